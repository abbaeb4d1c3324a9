// proxy-cache: caches upstream responses in a zone of the node's cache (APISIX's
// proxy-cache), in memory or on disk, shared by every worker of the node. A hit is
// answered in access, so placed at authorization 10 (the seed's place) it comes after
// the auth plugins and before waf, bot-detect and the limiters; a miss goes through all
// of them, so only what they let through is stored. Concurrent misses for one key wait
// for the first (the node's lock, bounded by LOCK_MS) and are served what it stored.
// The store (src/proxy-cache/) keeps the records; this file decides per request.
import type { PhaseResult, PluginContext } from '../contracts/plugin.js';
import type { CacheZoneConfig } from '../contracts/node-config.js';
import { checkVariables, registerVariable } from '../core/expr/index.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { pluginNodeLimits } from '../plugin-runtime/node-limits.js';
import { fastCounter, type LabelledCounter } from '../observability/fast-metrics.js';
import { cacheAccess, findEntry, isFresh, proxyCacheConfig, storeEntry, type CacheEntry, type CacheRecord } from '../proxy-cache/index.js';
import { forbidsStoring, parseDirectives, parseVary, replayable, responseFreshness, type Directives } from '../proxy-cache/http-rules.js';

export interface ProxyCacheConf {
  cache_strategy: 'disk' | 'memory';
  cache_zone: string;
  cache_key: string[];
  cache_http_status: number[];
  cache_method: ('GET' | 'POST' | 'HEAD')[];
  cache_bypass?: string[];
  no_cache?: string[];
  hide_cache_headers: boolean;
  cache_control: boolean;
  cache_ttl?: number;
  max_resp_body_size: number;
  consumer_isolation: boolean;
  cache_set_cookie: boolean;
}

/** A `$var` part (its name) or a literal. */
type Part = { v: string } | { lit: string };

interface Prepared {
  zone: CacheZoneConfig;
  disk: boolean;
  key: Part[];
  isolate: boolean;
  bypass: Part[] | undefined;
  noCache: Part[] | undefined;
  methods: Set<string>;
  statuses: Set<number>;
  hideCacheHeaders: boolean;
  cacheControl: boolean;
  ttl: number;
  maxBody: number;
  setCookie: boolean;
}

/** What one request's cache handling carries from access to log. */
interface State {
  key: string;
  status: string;
  /** The hit's headers beyond the first value of each name (added in header_filter). */
  hitExtra?: string[];
  locked: boolean;
  /** The body is complete and being stored: the lock is released when that is done. */
  storing: boolean;
  /** header_filter decided to store: the body is collected until eof. */
  collecting: boolean;
  chunks: Buffer[];
  bytes: number;
  headers: string[];
  ttl: number;
  vary: string[];
}

registerVariable('upstream_cache_status');
registerVariable('upstream_cache_key');

const STATE = 'proxy-cache';
const VAR_PART = /^\$[0-9a-zA-Z_]+$/;
const PART_ITEM = { type: 'string', pattern: '(^[^\\$].+$|^\\$[0-9a-zA-Z_]+$)' };
/** Key parts that already carry the requester's identity: consumer_isolation adds nothing then. */
const IDENTITY_VARS = new Set(['$consumer_name', '$consumer_group_id', '$remote_user', '$http_authorization']);
const MEMORY_TTL = 300;

let requests: LabelledCounter | undefined;

function countRequest(route: string, status: string): void {
  requests ??= fastCounter('gatehouse_proxy_cache_requests_total',
    'Requests proxy-cache handled, by route and cache status (HIT, MISS, EXPIRED, STALE, BYPASS, PURGE).', ['route', 'status']);
  requests.labels(route, status).inc();
}

function parts(list: readonly string[], field: string): Part[] {
  checkVariables(list.filter((s) => VAR_PART.test(s)).map((s) => s.slice(1)), field);
  return list.map((s) => (VAR_PART.test(s) ? { v: s.slice(1) } : { lit: s }));
}

/** APISIX's generate_complex_value: parts concatenated, an unset variable as "". */
function valueOf(list: readonly Part[], ctx: PluginContext): string {
  let out = '';
  for (const p of list) {
    if ('lit' in p) out += p.lit;
    else {
      const v = ctx.var(p.v);
      if (v !== undefined && v !== null) out += String(v);
    }
  }
  return out;
}

function triggered(list: readonly Part[] | undefined, ctx: PluginContext): boolean {
  if (list === undefined) return false;
  const v = valueOf(list, ctx);
  return v !== '' && v !== '0';
}

function mark(ctx: PluginContext, state: State, status: string): void {
  state.status = status;
  ctx.setVar('upstream_cache_status', status);
  ctx.setResponseHeader('apisix-cache-status', status);
}

function find(p: Prepared, key: string, ctx: PluginContext): CacheRecord | undefined | Promise<CacheRecord | undefined> {
  return findEntry(cacheAccess(), p.zone, key, (h) => ctx.request.header(h));
}

/** APISIX's request-side Cache-Control checks (cache_control): a hit too old for the client is STALE. */
function staleFor(cc: Directives, e: CacheEntry, now: number): boolean {
  const age = (now - e.storedAt) / 1000;
  if (typeof cc['max-age'] === 'number' && age > cc['max-age']) return true;
  if (typeof cc['max-stale'] === 'number' && age - e.ttl > cc['max-stale']) return true;
  return typeof cc['min-fresh'] === 'number' && e.ttl - age < cc['min-fresh'];
}

/** A stored entry's headers as a hit replays them (first value of each name, the rest apart), built once per entry. */
interface Replay { headers: Record<string, string>; extra: string[] | undefined }
const replays = new WeakMap<CacheEntry, Replay[]>();

function replayOf(e: CacheEntry, hideCacheHeaders: boolean): Replay {
  let both = replays.get(e);
  if (both === undefined) replays.set(e, (both = []));
  const i = hideCacheHeaders ? 1 : 0;
  const known = both[i];
  if (known !== undefined) return known;
  const headers: Record<string, string> = {};
  const extra: string[] = [];
  for (let j = 0; j < e.headers.length; j += 2) {
    const name = e.headers[j]!;
    if (!replayable(name) || (hideCacheHeaders && (name === 'cache-control' || name === 'expires'))) continue;
    if (name in headers) extra.push(name, e.headers[j + 1]!);
    else headers[name] = e.headers[j + 1]!;
  }
  return (both[i] = { headers, extra: extra.length > 0 ? extra : undefined });
}

function hit(p: Prepared, ctx: PluginContext, state: State, e: CacheEntry, waited: boolean): PhaseResult {
  const replay = replayOf(e, p.hideCacheHeaders);
  const headers = { ...replay.headers, age: String(Math.max(0, Math.floor((Date.now() - e.storedAt) / 1000))), 'apisix-cache-status': 'HIT' };
  state.status = 'HIT';
  state.hitExtra = replay.extra;
  // a request that waited for the key's lock was marked MISS meanwhile: the last call wins
  if (waited) ctx.setResponseHeader('apisix-cache-status', 'HIT');
  ctx.setVar('upstream_cache_status', 'HIT');
  return { status: e.status, headers, body: e.body };
}

/** After the lookup: a hit is answered; otherwise the request goes upstream (holding the key's lock when it may store). */
function decide(p: Prepared, ctx: PluginContext, state: State, r: CacheRecord | undefined, cc: Directives, waited: boolean):
  PhaseResult | void | Promise<PhaseResult | void> {
  const now = Date.now();
  if (r?.kind === 'entry' && isFresh(r, now)) {
    if (!(p.cacheControl && staleFor(cc, r, now))) return hit(p, ctx, state, r, waited);
    mark(ctx, state, 'STALE');
  } else if (r !== undefined) {
    mark(ctx, state, 'EXPIRED');
  } else {
    mark(ctx, state, 'MISS');
    if (p.cacheControl && cc['only-if-cached'] !== undefined) return { status: 504 };
  }
  // a HEAD response has no body to store; it is served from what a GET stored
  if (waited || ctx.request.method === 'HEAD') return undefined;
  const access = cacheAccess();
  const answer = access.lock(p.zone, state.key);
  if (answer === 'held') return recheck(p, ctx, state, cc);
  return Promise.resolve(answer).then((a) => {
    if (a === 'held') return recheck(p, ctx, state, cc);
    if (a === 'open') return undefined;
    const again = find(p, state.key, ctx);
    return again instanceof Promise ? again.then((x) => decide(p, ctx, state, x, cc, true)) : decide(p, ctx, state, again, cc, true);
  });
}

/**
 * The lock is ours: another request may have stored the key between our lookup and our
 * lock (its store and unlock landing in between), so look once more before going upstream.
 */
function recheck(p: Prepared, ctx: PluginContext, state: State, cc: Directives): PhaseResult | void | Promise<PhaseResult | void> {
  state.locked = true;
  const use = (r: CacheRecord | undefined): PhaseResult | void => {
    const now = Date.now();
    if (r?.kind !== 'entry' || !isFresh(r, now) || (p.cacheControl && staleFor(cc, r, now))) return undefined;
    unlock(p, state, true);
    return hit(p, ctx, state, r, true);
  };
  const again = find(p, state.key, ctx);
  return again instanceof Promise ? again.then(use) : use(again);
}

function unlock(p: Prepared, state: State, filled: boolean): void {
  if (!state.locked) return;
  state.locked = false;
  cacheAccess().unlock(p.zone, state.key, filled);
}

/** header_filter's verdict on an upstream response: the seconds to keep it, or undefined when it is not stored. */
function storableFor(p: Prepared, ctx: PluginContext, cc: Directives): number | undefined {
  const res = ctx.response;
  if (!p.statuses.has(res.status) || triggered(p.noCache, ctx) || forbidsStoring(cc)) return undefined;
  if (!p.setCookie && res.header('set-cookie') !== undefined) return undefined;
  if (parseVary(res.header('vary')) === undefined) return undefined;
  const own = responseFreshness(cc, res.header('expires'), Date.now());
  // disk: nginx's rules (the response's own freshness, else proxy_cache.cache_ttl); memory: cache_ttl unless cache_control
  const ttl = p.disk ? own ?? proxyCacheConfig().cache_ttl : p.cacheControl ? own ?? 0 : p.ttl;
  return ttl > 0 ? ttl : undefined;
}

function flatHeaders(ctx: PluginContext): string[] {
  const flat = ctx.response.flatHeaders?.();
  const out: string[] = [];
  if (flat !== undefined) {
    for (let i = 0; i < flat.length; i += 2) {
      const name = flat[i]!.toLowerCase();
      if (name !== 'apisix-cache-status') out.push(name, flat[i + 1]!);
    }
    return out;
  }
  for (const [k, v] of Object.entries(ctx.response.allHeaders?.() ?? {})) if (k !== 'apisix-cache-status') out.push(k, v);
  return out;
}

/** The whole body is in: the entry (and its Vary index) goes to the zone, then waiting requests look again. */
function store(p: Prepared, ctx: PluginContext, state: State): void {
  const now = Date.now();
  state.storing = true;
  const entry: CacheEntry = {
    kind: 'entry', status: ctx.response.status, headers: state.headers, ttl: state.ttl, storedAt: now,
    body: Buffer.concat(state.chunks, state.bytes),
  };
  state.chunks = [];
  storeEntry(cacheAccess(), p.zone, state.key, entry, state.vary, (h) => ctx.request.header(h)).then(
    () => unlock(p, state, true),
    (err: unknown) => {
      unlock(p, state, false);
      ctx.log.error({ err: (err as Error).message, zone: p.zone.name }, 'proxy-cache: failed to store a response');
    },
  );
}

export default definePlugin<ProxyCacheConf, Prepared>({
  name: 'proxy-cache',
  description: 'Caches upstream responses in memory or on disk, shared by every worker of the node, with PURGE and collapsed misses.',
  version: '0.2',
  stage: 'authorization',
  priority: 10,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      cache_strategy: { type: 'string', enum: ['disk', 'memory'], default: 'disk' },
      cache_zone: { type: 'string', minLength: 1, maxLength: 100, default: 'disk_cache_one' },
      cache_key: { type: 'array', minItems: 1, items: PART_ITEM, default: ['$host', '$request_uri'] },
      cache_http_status: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'integer', minimum: 200, maximum: 599 }, default: [200, 301, 404] },
      cache_method: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', enum: ['GET', 'POST', 'HEAD'] }, default: ['GET', 'HEAD'] },
      cache_bypass: { type: 'array', minItems: 1, items: PART_ITEM },
      no_cache: { type: 'array', minItems: 1, items: PART_ITEM },
      hide_cache_headers: { type: 'boolean', default: false },
      cache_control: { type: 'boolean', default: false },
      // memory only (300 when not given): the disk strategy's freshness is the response's own, else proxy_cache.cache_ttl
      cache_ttl: { type: 'integer', minimum: 1 },
      max_resp_body_size: { type: 'integer', minimum: 1, default: 67108864 },
      consumer_isolation: { type: 'boolean', default: true },
      cache_set_cookie: { type: 'boolean', default: false },
    },
  },

  prepare(conf) {
    const strategy = conf.cache_strategy ?? 'disk';
    const zoneName = conf.cache_zone ?? 'disk_cache_one';
    const cacheKey = conf.cache_key ?? ['$host', '$request_uri'];
    for (const k of cacheKey) if (k === '$request_method') throw new Error(`cache_key variable ${k} unsupported`);
    const zone = proxyCacheConfig().zones.find((z) => z.name === zoneName);
    if (zone === undefined) throw new Error(`cache_zone ${zoneName} not found`);
    const disk = zone.disk_path !== undefined;
    if (disk !== (strategy === 'disk')) throw new Error(`invalid or empty cache_zone for cache_strategy: ${strategy}`);
    if (disk && conf.cache_ttl !== undefined) {
      throw new Error('cache_ttl: applies to the memory strategy only (the disk strategy keeps a response as long as its Cache-Control or Expires says, else proxy_cache.cache_ttl of config.yaml)');
    }
    return {
      zone, disk,
      key: parts(cacheKey, 'cache_key'),
      isolate: (conf.consumer_isolation ?? true) && !cacheKey.some((k) => IDENTITY_VARS.has(k)),
      bypass: conf.cache_bypass === undefined ? undefined : parts(conf.cache_bypass, 'cache_bypass'),
      noCache: conf.no_cache === undefined ? undefined : parts(conf.no_cache, 'no_cache'),
      methods: new Set(conf.cache_method ?? ['GET', 'HEAD']),
      statuses: new Set(conf.cache_http_status ?? [200, 301, 404]),
      hideCacheHeaders: conf.hide_cache_headers ?? false,
      cacheControl: conf.cache_control ?? false,
      ttl: conf.cache_ttl ?? MEMORY_TTL,
      maxBody: conf.max_resp_body_size ?? 67108864,
      setCookie: conf.cache_set_cookie ?? false,
    };
  },

  access(p, ctx) {
    let key = valueOf(p.key, ctx);
    if (p.isolate) {
      const who = ctx.consumer?.username || String(ctx.var('remote_user') ?? '');
      if (who !== '') key = `${who}\u0001${key}`;
    }
    ctx.setVar('upstream_cache_key', key);
    const state: State = { key, status: '', locked: false, storing: false, collecting: false, chunks: [], bytes: 0, headers: [], ttl: 0, vary: [] };
    ctx.shared.set(STATE, state);
    const method = ctx.request.method;
    if (method === 'PURGE') {
      state.status = 'PURGE';
      return cacheAccess().purge(p.zone, key).then((found) => ({ status: found ? 200 : 404, body: '' }));
    }
    const cc = p.cacheControl ? parseDirectives(ctx.request.header('cache-control')) : {};
    // APISIX: the disk strategy bypasses nginx's cache for other methods; the memory one calls it a MISS
    if (!p.methods.has(method)) return mark(ctx, state, p.disk ? 'BYPASS' : 'MISS');
    if (triggered(p.bypass, ctx) || (p.cacheControl && (cc['no-store'] !== undefined || cc['no-cache'] !== undefined))) {
      return mark(ctx, state, 'BYPASS');
    }
    const found = find(p, key, ctx);
    return found instanceof Promise ? found.then((r) => decide(p, ctx, state, r, cc, false)) : decide(p, ctx, state, found, cc, false);
  },

  header_filter(p, ctx) {
    const state = ctx.shared.get(STATE) as State | undefined;
    if (state === undefined) return;
    const res = ctx.response;
    if (state.status === 'HIT') {
      const extra = state.hitExtra;
      if (extra !== undefined) for (let i = 0; i < extra.length; i += 2) res.addHeader(extra[i]!, extra[i + 1]!);
      return;
    }
    if (state.status === 'MISS' || state.status === 'EXPIRED' || state.status === 'STALE') {
      const cc = parseDirectives(res.header('cache-control'));
      const ttl = ctx.request.method === 'HEAD' ? undefined : storableFor(p, ctx, cc);
      if (ttl !== undefined) {
        state.collecting = true;
        state.ttl = ttl;
        state.vary = parseVary(res.header('vary'))!;
        state.headers = flatHeaders(ctx);
      } else {
        unlock(p, state, false);
      }
    }
    if (p.hideCacheHeaders) {
      res.setHeader('cache-control', undefined);
      res.setHeader('expires', undefined);
    }
  },

  body_filter(p, ctx, chunk, eof) {
    const state = ctx.shared.get(STATE) as State | undefined;
    if (state === undefined || !state.collecting) return undefined;
    state.bytes += chunk.length;
    // APISIX stores bodies under max_resp_body_size; a worker never holds more than node.max_buffered_body_size
    if (state.bytes >= Math.min(p.maxBody, pluginNodeLimits().maxBufferedBodySize)) {
      state.collecting = false;
      state.chunks = [];
      unlock(p, state, false);
      return undefined;
    }
    if (chunk.length > 0) state.chunks.push(chunk);
    if (eof) {
      state.collecting = false;
      store(p, ctx, state);
    }
    return undefined;
  },

  // The body passes through unchanged (it is only copied), so the response keeps its Content-Length.
  keepsBodyLength: () => true,

  log(p, ctx) {
    const state = ctx.shared.get(STATE) as State | undefined;
    if (state === undefined) return;
    // the client went away before the whole body came: nothing is stored, waiting requests go on
    state.collecting = false;
    if (!state.storing) unlock(p, state, false);
    countRequest(ctx.routeId ?? '', state.status);
  },
});
