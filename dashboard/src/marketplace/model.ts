// The marketplace's plugins, built-in and custom, read from the Admin API and put in one
// list in execution order (stage, then priority, larger first).
import { api } from '../api.js';
// The Admin API's own shapes (types only: nothing of the server is bundled).
import type { CustomPlugin as StoredCustomPlugin, CustomPluginVersion } from '../../../src/contracts/custom-plugins.js';

export const STAGES = ['authorization', 'authentication', 'statistics', 'default'] as const;
export type Stage = typeof STAGES[number];

export const HOLDER_KINDS = ['routes', 'services', 'global_rules', 'consumers', 'consumer_groups', 'plugin_configs'] as const;
export type BoundTo = Record<typeof HOLDER_KINDS[number], string[]>;

export interface BuiltinPlugin {
  kind: 'builtin';
  name: string;
  version: string | number;
  description?: string;
  stage: Stage;
  priority: number;
  type?: string;
  schema: Record<string, unknown>;
  /** Where it is bound (the Admin API's `?bound=true`). */
  bound_to: BoundTo;
}

export type CustomVersion = CustomPluginVersion;

/** A custom plugin as GET /custom_plugins/{id} returns its value, plus `bound_to`. */
export interface CustomPlugin extends Omit<StoredCustomPlugin, 'create_time' | 'update_time'> {
  kind: 'custom';
  bound_to: BoundTo;
}

export type MarketPlugin = BuiltinPlugin | CustomPlugin;

export const idOf = (p: MarketPlugin): string => (p.kind === 'builtin' ? p.name : p.id);

type Detail = Omit<BuiltinPlugin, 'kind' | 'name'>;
interface Envelope<T> { value: T }

export async function loadCustomPlugin(id: string): Promise<CustomPlugin> {
  const one = await api<Envelope<Omit<CustomPlugin, 'kind' | 'bound_to'>> & { bound_to: BoundTo }>('GET', `/custom_plugins/${encodeURIComponent(id)}`);
  return { ...one.value, kind: 'custom', bound_to: one.bound_to };
}

export async function loadMarketplace(): Promise<MarketPlugin[]> {
  const [builtins, customs] = await Promise.all([
    api<Record<string, Detail>>('GET', '/plugins?all=true&bound=true'),
    api<{ list: Envelope<{ id: string }>[] }>('GET', '/custom_plugins'),
  ]);
  const custom = await Promise.all(customs.list.map((e) => loadCustomPlugin(e.value.id)));
  const customIds = new Set(custom.map((p) => p.id));
  const builtin: BuiltinPlugin[] = Object.entries(builtins)
    .filter(([name]) => !customIds.has(name))
    .map(([name, d]) => ({ ...d, kind: 'builtin', name }));
  return [...builtin, ...custom].sort(byExecutionOrder);
}

function byExecutionOrder(a: MarketPlugin, b: MarketPlugin): number {
  return STAGES.indexOf(a.stage) - STAGES.indexOf(b.stage) || b.priority - a.priority || idOf(a).localeCompare(idOf(b));
}

export interface Filters {
  stage: Stage | '';
  kind: MarketPlugin['kind'] | '';
  text: string;
}

export function matchesFilters(p: MarketPlugin, f: Filters): boolean {
  if (f.stage !== '' && p.stage !== f.stage) return false;
  if (f.kind !== '' && p.kind !== f.kind) return false;
  const text = f.text.trim().toLowerCase();
  if (text === '') return true;
  const haystack = p.kind === 'builtin' ? [p.name, descriptionOf(p)] : [p.id, p.name, p.description ?? ''];
  return haystack.some((s) => s.toLowerCase().includes(text));
}

/** A built-in's description is the plugin's own, else its schema's. */
export function descriptionOf(p: MarketPlugin): string {
  if (p.kind === 'custom' || p.description !== undefined) return p.description ?? '';
  return typeof p.schema.description === 'string' ? p.schema.description : '';
}

/** `[["routes", "1"], ...]` for every object the plugin is bound to. */
export function bindingsOf(p: MarketPlugin): [typeof HOLDER_KINDS[number], string][] {
  return HOLDER_KINDS.flatMap((k) => (p.bound_to[k] ?? []).map((id) => [k, id] as [typeof HOLDER_KINDS[number], string]));
}
