// Where custom plugins are bound (the `plugins` of routes, services, ...), computed from
// the store: shown by GET, checked by DELETE, and the write-time refusal to bind a
// disabled one.
import type { ResourceKind } from '../../contracts/resources.js';
import type { ConfigStore } from '../../contracts/store.js';

type Obj = Record<string, unknown>;

/** The kinds whose objects carry a `plugins` map, in the order bound_to lists them. */
export const PLUGIN_HOLDER_KINDS = ['routes', 'services', 'global_rules', 'consumers', 'consumer_groups', 'plugin_configs'] as const;
type HolderKind = typeof PLUGIN_HOLDER_KINDS[number];

export type BoundTo = Record<HolderKind, string[]>;

const isObject = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The ids of every object, by kind, whose `plugins` configure `pluginId`. */
export async function boundTo(store: ConfigStore, pluginId: string): Promise<BoundTo> {
  const out = {} as BoundTo;
  for (const kind of PLUGIN_HOLDER_KINDS) {
    out[kind] = (await store.list(kind))
      .filter((o) => isObject(o.value.plugins) && Object.hasOwn(o.value.plugins, pluginId))
      .map((o) => o.id);
  }
  return out;
}

/** Where every plugin (built-in or custom) is bound, read in one pass over the holders. */
export async function bindingsByPlugin(store: ConfigStore): Promise<Map<string, BoundTo>> {
  const out = new Map<string, BoundTo>();
  for (const kind of PLUGIN_HOLDER_KINDS) {
    for (const o of await store.list(kind)) {
      if (!isObject(o.value.plugins)) continue;
      for (const name of Object.keys(o.value.plugins)) {
        let bound = out.get(name);
        if (bound === undefined) out.set(name, bound = emptyBindings());
        bound[kind].push(o.id);
      }
    }
  }
  return out;
}

export function emptyBindings(): BoundTo {
  return Object.fromEntries(PLUGIN_HOLDER_KINDS.map((k) => [k, [] as string[]])) as BoundTo;
}

/** `route [1], service [s]` for the non-empty entries; undefined when bound nowhere. */
export function describeBindings(bound: BoundTo): string | undefined {
  const labels: Record<HolderKind, string> = {
    routes: 'route', services: 'service', global_rules: 'global_rule', consumers: 'consumer',
    consumer_groups: 'consumer_group', plugin_configs: 'plugin_config',
  };
  const parts = PLUGIN_HOLDER_KINDS.flatMap((k) => bound[k].map((id) => `${labels[k]} [${id}]`));
  return parts.length === 0 ? undefined : parts.join(', ');
}

/**
 * Why a write of `kind` may not name these plugins: a custom plugin it newly binds is
 * disabled. A binding the object already had is left alone, so disabling a plugin does
 * not freeze every object it is bound to.
 */
export async function disabledBindingProblem(store: ConfigStore, kind: ResourceKind, value: Obj, previous: Obj | undefined):
  Promise<string | undefined> {
  if (kind === 'custom_plugins' || !isObject(value.plugins)) return undefined;
  const had = isObject(previous?.plugins) ? previous.plugins : {};
  for (const name of Object.keys(value.plugins)) {
    if (Object.hasOwn(had, name)) continue;
    const custom = await store.get('custom_plugins', name);
    if (custom !== undefined && custom.value.enabled === false) {
      return `custom plugin ${name} is disabled: enable it (PATCH /apisix/admin/custom_plugins/${name} {"enabled": true}) before binding it`;
    }
  }
  return undefined;
}
