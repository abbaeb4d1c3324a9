// Reading and writing one kind's objects through the Admin API, and the list's client-side
// search and pagination (the Admin API answers the whole list at once).
import { api } from '../api.js';
import type { ResourceKind } from './kinds.js';

export type Obj = Record<string, unknown>;

export interface Item {
  id: string;
  value: Obj;
}

interface ListAnswer { total: number; list: { key: string; value: Obj }[] }

export const PAGE_SIZE = 10;
/** Set by the gateway, never by the user: kept out of the editor so a save does not send them back. */
const SERVER_FIELDS = ['id', 'create_time', 'update_time'];

/** `vault/my id` → `vault/my%20id`: each segment encoded, the slashes the path needs kept. */
export function encodeId(id: string): string {
  return id.split('/').map(encodeURIComponent).join('/');
}

function idOf(kind: ResourceKind, key: string, value: Obj, parent?: string): string {
  if (kind.idRule === 'username' && typeof value.username === 'string') return value.username;
  if (typeof value.id === 'string' || typeof value.id === 'number') return String(value.id);
  // plugin metadata has no id field: its key ends with the plugin's name
  const collection = `/apisix${kind.path(parent).replace(/%2F/gi, '/')}/`;
  return key.startsWith(collection) ? key.slice(collection.length) : key.slice(key.lastIndexOf('/') + 1);
}

export async function loadItems(kind: ResourceKind, parent?: string): Promise<Item[]> {
  const answer = await api<ListAnswer>('GET', kind.path(parent));
  return answer.list
    .map((e) => ({ id: idOf(kind, e.key, e.value, parent), value: e.value }))
    .sort((a, b) => a.id.localeCompare(b.id, undefined, { numeric: true }));
}

/** The object as the editor shows it: without the fields the gateway sets. */
export function editable(value: Obj): Obj {
  return Object.fromEntries(Object.entries(value).filter(([k]) => !SERVER_FIELDS.includes(k)));
}

/** Creates (`isNew`) or replaces the object; `id` may be empty only when the kind generates ids. */
export async function saveItem(kind: ResourceKind, id: string, body: Obj, isNew: boolean, parent?: string): Promise<void> {
  const base = kind.path(parent);
  if (kind.idRule === 'username') {
    await api('PUT', base, body);
    return;
  }
  if (id === '' && isNew && kind.idRule === 'generated') {
    await api('POST', base, body);
    return;
  }
  const full = isNew && kind.idPrefix !== undefined && !id.startsWith(kind.idPrefix) ? kind.idPrefix + id : id;
  await api('PUT', `${base}/${encodeId(full)}`, body);
}

export async function deleteItem(kind: ResourceKind, id: string, parent?: string): Promise<void> {
  await api('DELETE', `${kind.path(parent)}/${encodeId(id)}`);
}

/** Whether the search text occurs in the id or any column of the object. */
export function matchesSearch(kind: ResourceKind, item: Item, text: string): boolean {
  const needle = text.trim().toLowerCase();
  if (needle === '') return true;
  const haystack = [item.id, ...kind.columns.map((c) => String(c.value(item.value) ?? ''))];
  return haystack.some((s) => s.toLowerCase().includes(needle));
}

export function pageOf<T>(items: T[], page: number): { shown: T[]; page: number; pages: number } {
  const pages = Math.max(1, Math.ceil(items.length / PAGE_SIZE));
  const current = Math.min(Math.max(1, page), pages);
  return { shown: items.slice((current - 1) * PAGE_SIZE, current * PAGE_SIZE), page: current, pages };
}

/** Every installed plugin (built-in and custom) with the schemas it has. */
export interface PluginInfo { name: string; consumer: boolean; metadata: boolean }

let installed: Promise<PluginInfo[]> | undefined;
export function installedPlugins(refresh = false): Promise<PluginInfo[]> {
  if (installed === undefined || refresh) {
    installed = api<Record<string, { consumer_schema?: unknown; metadata_schema?: unknown }>>('GET', '/plugins?all=true')
      .then((all) => Object.entries(all)
        .map(([name, d]) => ({ name, consumer: d.consumer_schema !== undefined, metadata: d.metadata_schema !== undefined }))
        .sort((a, b) => a.name.localeCompare(b.name)));
    installed.catch(() => { installed = undefined; });
  }
  return installed;
}

const schemas = new Map<string, Promise<Obj>>();
/** GET /plugins/<name>[?schema_type=...], asked once per page load. */
export function pluginSchema(name: string, schemaType: 'default' | 'consumer' | 'metadata'): Promise<Obj> {
  const key = `${name}?${schemaType}`;
  let p = schemas.get(key);
  if (p === undefined) {
    p = api<Obj>('GET', `/plugins/${encodeURIComponent(name)}${schemaType === 'default' ? '' : `?schema_type=${schemaType}`}`);
    p.catch(() => schemas.delete(key));
    schemas.set(key, p);
  }
  return p;
}
