// APISIX v3 response shapes: `{key, value, createdIndex, modifiedIndex}` per object,
// `{total, list}` for collections, and the list query (`page`, `page_size`, filters).
import type { ResourceKind } from '../contracts/resources.js';
import type { StoredObject } from '../contracts/store.js';
import { splitCredentialKey } from '../config-store/state.js';
import { AdminError } from './errors.js';
import { compilePcre } from '../core/expr/pcre.js';

type Obj = Record<string, unknown>;

export interface Envelope {
  key: string;
  value: Obj;
  createdIndex: number;
  modifiedIndex: number;
}

/** The etcd-style key APISIX clients see: `/apisix/routes/1`, `/apisix/consumers/jack/credentials/c1`. */
export function keyOf(kind: ResourceKind, storeId: string): string {
  if (kind === 'credentials') {
    const { username, id } = splitCredentialKey(storeId);
    return `/apisix/consumers/${username}/credentials/${id}`;
  }
  return `/apisix/${kind}/${storeId}`;
}

export function envelope(obj: StoredObject, present: (v: Obj) => Obj = (v) => v): Envelope {
  return {
    key: keyOf(obj.kind, obj.id),
    value: present(obj.value),
    createdIndex: obj.createdIndex,
    modifiedIndex: obj.modifiedIndex,
  };
}

/** A list filter from the query string, run on RE2 so no query can stall the Admin API. */
type FilterRegex = { test(value: string): boolean };

export interface ListQuery {
  page?: number;
  pageSize?: number;
  name?: FilterRegex;
  label?: string;
  uri?: FilterRegex;
  /** Exact matches on whitelisted fields (`filter=service_id%3D1`). */
  fields?: [string, string][];
}

const MIN_PAGE_SIZE = 10;
const MAX_PAGE_SIZE = 500;

const FILTER_FIELDS = new Set(['service_id', 'upstream_id']);

function regexParam(q: URLSearchParams, name: string): FilterRegex | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  try {
    return compilePcre(v, false);
  } catch (e) {
    throw new AdminError(400, `invalid ${name} filter: ${(e as Error).message.replace(/^invalid regex '.*?': /s, '')}`);
  }
}

/**
 * Reads the list query. Pagination applies when `page` or `page_size` is given (the
 * other defaults to 1 and 10). As APISIX (admin/v3_adapter.lua): a `page_size` that is
 * not an integer from 10 to 500 answers 400, a `page` that is not a number or is below 1
 * reads as page 1; a fractional page is rounded down.
 */
export function parseListQuery(q: URLSearchParams): ListQuery {
  const out: ListQuery = {};
  const page = q.get('page');
  const size = q.get('page_size');
  if (page !== null || size !== null) {
    const s = size === null ? 10 : Number(size);
    if (!Number.isInteger(s) || s < MIN_PAGE_SIZE || s > MAX_PAGE_SIZE) {
      throw new AdminError(400, `page_size must be between ${MIN_PAGE_SIZE} and ${MAX_PAGE_SIZE}`);
    }
    const p = page === null || page.trim() === '' ? 1 : Number(page);
    out.page = Number.isFinite(p) && p >= 1 ? Math.floor(p) : 1;
    out.pageSize = s;
  }
  const name = regexParam(q, 'name');
  if (name !== undefined) out.name = name;
  const uri = regexParam(q, 'uri');
  if (uri !== undefined) out.uri = uri;
  const label = q.get('label');
  if (label !== null) out.label = label;
  const filter = q.get('filter');
  if (filter !== null) {
    out.fields = [];
    for (const [k, v] of new URLSearchParams(filter)) {
      if (!FILTER_FIELDS.has(k)) throw new AdminError(400, `unsupported filter field "${k}" (use service_id or upstream_id)`);
      out.fields.push([k, v]);
    }
  }
  return out;
}

function matches(value: Obj, q: ListQuery): boolean {
  if (q.name !== undefined && !(typeof value.name === 'string' && q.name.test(value.name))) return false;
  if (q.label !== undefined) {
    const labels = value.labels as Obj | undefined;
    if (labels === undefined || !Object.hasOwn(labels, q.label)) return false;
  }
  if (q.uri !== undefined) {
    const re = q.uri;
    const uris = typeof value.uri === 'string' ? [value.uri] : Array.isArray(value.uris) ? value.uris : [];
    if (!uris.some((u) => typeof u === 'string' && re.test(u))) return false;
  }
  for (const [k, v] of q.fields ?? []) {
    if (value[k] === undefined || String(value[k]) !== v) return false;
  }
  return true;
}

/** Filters, sorts by creation, and cuts one page; `total` counts the filtered objects. */
export function listEnvelope(objects: StoredObject[], q: ListQuery, present?: (v: Obj) => Obj):
  { total: number; list: Envelope[] } {
  const kept = objects.filter((o) => matches(o.value, q))
    .sort((a, b) => a.createdIndex - b.createdIndex || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const page = q.page !== undefined && q.pageSize !== undefined
    ? kept.slice((q.page - 1) * q.pageSize, q.page * q.pageSize) : kept;
  return { total: kept.length, list: page.map((o) => envelope(o, present)) };
}
