// The HTTP caching rules proxy-cache applies, as APISIX's memory strategy (and nginx's
// proxy_cache for the disk one) reads them: Cache-Control directives, freshness from
// s-maxage / max-age / Expires, Vary lists and signatures, and the headers a stored
// response must not replay.
import { createHash } from 'node:crypto';

export type Directives = Record<string, string | number | true>;

/** `private, max-age=600` → `{private: true, 'max-age': 600}` (APISIX's parse_directive_header). */
export function parseDirectives(h: string | undefined): Directives {
  const out: Directives = {};
  if (h === undefined || h === '') return out;
  for (const part of h.split(',')) {
    const m = /^\s*([^=]+?)\s*(?:=\s*(.+?))?\s*$/.exec(part);
    if (m === null) continue;
    const value = m[2]?.replace(/^"(.*)"$/, '$1');
    const n = value === undefined || value === '' ? NaN : Number(value);
    out[m[1]!.toLowerCase()] = Number.isFinite(n) ? n : value ?? true;
  }
  return out;
}

/** Seconds a response is fresh by its own headers (s-maxage, else max-age, else Expires); undefined when it says nothing. */
export function responseFreshness(cc: Directives, expires: string | undefined, nowMs: number): number | undefined {
  const maxAge = typeof cc['s-maxage'] === 'number' ? cc['s-maxage'] : typeof cc['max-age'] === 'number' ? cc['max-age'] : undefined;
  if (maxAge !== undefined) return Math.max(maxAge, 0);
  if (expires !== undefined) {
    const at = Date.parse(expires);
    return Number.isNaN(at) ? 0 : Math.max((at - nowMs) / 1000, 0);
  }
  return undefined;
}

/** Whether the upstream forbids a shared cache to store the response (always honoured). */
export function forbidsStoring(cc: Directives): boolean {
  return cc.private !== undefined || cc['no-store'] !== undefined || cc['no-cache'] !== undefined;
}

/** Sorted lower-case header names of a Vary value; undefined for `*` (never stored); [] for none. */
export function parseVary(v: string | undefined): string[] | undefined {
  if (v === undefined) return [];
  const out: string[] = [];
  for (const raw of v.split(',')) {
    const h = raw.trim();
    if (h === '*') return undefined;
    if (h !== '') out.push(h.toLowerCase());
  }
  return out.sort();
}

/** md5 of the request's values of the Vary headers ("" when there are none). */
export function varySignature(vary: readonly string[], header: (name: string) => string | undefined): string {
  if (vary.length === 0) return '';
  return createHash('md5').update(vary.map((h) => header(h) ?? '').join('\0')).digest('hex');
}

export function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Headers a hit does not replay (APISIX's hop_by_hop_headers: the RFC 2616 hop-by-hop
 * ones, plus Content-Length, which the gateway sets, and the cache status itself).
 */
const NOT_REPLAYED = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailers', 'transfer-encoding',
  'upgrade', 'content-length', 'apisix-cache-status',
]);

export function replayable(name: string): boolean {
  return !NOT_REPLAYED.has(name) && !name.includes('ratelimit-remaining');
}

/** At most this many Vary variants per cache key (APISIX's MAX_VARIANTS); the oldest goes first. */
export const MAX_VARIANTS = 64;
