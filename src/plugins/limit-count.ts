// limit-count: at most `count` requests per `time_window` seconds per key, in a fixed
// window (APISIX limit-count 3.x). Policy `local`: the node's shared counters
// (src/counters/counter-service.ts), the limit holds across all workers. Policies
// `redis` and `redis-cluster`: the counters are in Redis (src/counters/redis-store.ts),
// the limit holds across every node using it; a Redis that fails or answers later than
// `redis_timeout` fails the request with 500 `failed to limit count`, or lets it pass
// with `allow_degradation` (common/redis-policy.ts).
//
// Counter identity, as APISIX: `<group>:<key>` with `group`, else
// `<owning resource>:<config version>:<key>` — a global rule's instance and a route's
// count separately, and a changed config starts a new counter.
// Quota headers (names from plugin metadata `limit_header`, `remaining_header`,
// `reset_header`) go on the response whatever answers it, set in access as APISIX does
// (ctx.setResponseHeader: the last instance to run access wins).
//
// `count` and `time_window` may be strings (APISIX 3.16): a number, or a template of
// variables (`$http_x_quota`, `$consumer_name`…) resolved per request, which must give a
// positive integer, else the request fails with 500 (passes with `allow_degradation`).
// A resolved pair is part of the counter key, so requests given different quotas or
// windows never share (and thrash) one counter.
//
// With policy `local`, in a worker of a multi-process node the hits are admitted from a
// quota lease the worker holds (src/counters/ipc-store.ts): synchronously, so a route
// whose other plugins are synchronous too runs its request phases without a promise. The
// limit still holds across all workers; `X-RateLimit-Remaining` is exact with one worker
// and a lower bound with several (see IpcCounterStore.hit). With the redis policies every
// hit is one script run in Redis (no lease: other nodes draw from the same count), and
// `X-RateLimit-Remaining` is exact.
import type { PhaseResult, PluginContext } from '../contracts/plugin.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import {
  ALLOW_DEGRADATION_SCHEMA, REJECTED_CODE_SCHEMA, REJECTED_MSG_SCHEMA,
  compileLimitKey, instanceKeyPrefix, limitQuantity, rejection, type LimitKeyType, type QuantityResolver,
} from './common/limits.js';
import {
  counterFailure, counterVersion, policyCounters, storeOf, withRedisPolicies, type PolicyCounters, type RedisPolicyConf,
} from './common/redis-policy.js';
import { hitWindow, type QuotaAnswer } from '../counters/index.js';
import { HEADER_NAME_SCHEMA } from './common/headers.js';

export interface LimitCountConf extends RedisPolicyConf {
  count: number | string;
  time_window: number | string;
  key_type: LimitKeyType;
  key: string;
  rejected_code: number;
  rejected_msg?: string;
  allow_degradation: boolean;
  show_limit_quota_header: boolean;
  group?: string;
  window_type: 'fixed';
}

interface LimitCountPrepared {
  count: number;
  windowMs: number;
  /** Set when `count` or `time_window` names variables: they are resolved per request then. */
  dynamic: { count: QuantityResolver | number; windowSeconds: QuantityResolver | number } | undefined;
  key: (ctx: PluginContext) => string;
  /** `<group>:` when grouped, else undefined (the owner and version are added per request). */
  groupPrefix: string | undefined;
  version: string;
  rejectedCode: number;
  rejectedMsg: string | undefined;
  degrade: boolean;
  counters: PolicyCounters;
  showHeaders: boolean;
  limitHeader: string;
  /** `count` as the limit header's value. */
  countText: string;
  remainingHeader: string;
  resetHeader: string;
}

const DEFAULT_HEADERS = {
  limit_header: 'X-RateLimit-Limit',
  remaining_header: 'X-RateLimit-Remaining',
  reset_header: 'X-RateLimit-Reset',
} as const;

function quota(p: LimitCountPrepared, ctx: PluginContext, remaining: number, resetMs: number): void {
  ctx.setResponseHeader(p.limitHeader, p.countText);
  ctx.setResponseHeader(p.remainingHeader, String(remaining));
  // whole seconds until the window closes, never 0 while it is open
  ctx.setResponseHeader(p.resetHeader, String(Math.max(0, Math.ceil(resetMs / 1000))));
}

// Counter keys by prefix and limit key: the same key string comes back for the same
// pair, so the counter map finds it by its cached hash instead of hashing a freshly
// concatenated string on every request. Bounded (cleared when it grows large).
const keyCache = new Map<string, Map<string, string>>();
let keyCacheSize = 0;
const KEY_CACHE_MAX = 50_000;

function counterKey(prefix: string, key: string): string {
  let byKey = keyCache.get(prefix);
  if (byKey === undefined) keyCache.set(prefix, (byKey = new Map()));
  let full = byKey.get(key);
  if (full === undefined) {
    if (keyCacheSize >= KEY_CACHE_MAX) {
      keyCache.clear();
      keyCacheSize = 0;
      keyCache.set(prefix, byKey);
      byKey.clear();
    }
    full = prefix + key;
    byKey.set(key, full);
    keyCacheSize++;
  }
  return full;
}

function decide(p: LimitCountPrepared, ctx: PluginContext, a: QuotaAnswer): PhaseResult | undefined {
  if (!a.admitted) {
    if (p.showHeaders) quota(p, ctx, 0, a.resetMs);
    return rejection(p.rejectedCode, p.rejectedMsg);
  }
  if (p.showHeaders) quota(p, ctx, a.remaining, a.resetMs);
  return undefined;
}

/** The primary decides: kept out of access so that access creates no closure (no context object per call). */
function later(p: LimitCountPrepared, ctx: PluginContext, answer: Promise<QuotaAnswer>): Promise<PhaseResult | undefined> {
  return answer.then((a) => decide(p, ctx, a), (err: unknown) => failed(p, ctx, err));
}

/** APISIX's answer when the counters fail and degradation is not allowed. */
const FAILED: PhaseResult = { status: 500, body: { error_msg: 'failed to limit count' } };

function failed(p: LimitCountPrepared, ctx: PluginContext, err: unknown): PhaseResult | undefined {
  return counterFailure('limit-count', p.counters, p.degrade, ctx, err, FAILED);
}

export default definePlugin<LimitCountConf, LimitCountPrepared>({
  name: 'limit-count',
  description: 'Limits the number of requests per key within a fixed time window.',
  version: '0.4',
  stage: 'authorization',
  priority: 202,
  schema: withRedisPolicies({
    type: 'object',
    properties: {
      count: {
        description: 'requests per window, > 0; a string may name variables ("$http_x_quota"), resolved per request',
        oneOf: [{ type: 'integer', exclusiveMinimum: 0 }, { type: 'string', minLength: 1 }],
      },
      time_window: {
        description: 'window length in seconds, > 0; a string may name variables, resolved per request',
        oneOf: [{ type: 'integer', exclusiveMinimum: 0 }, { type: 'string', minLength: 1 }],
      },
      group: { type: 'string' },
      key: { type: 'string', default: 'remote_addr' },
      key_type: { type: 'string', enum: ['var', 'var_combination', 'constant'], default: 'var' },
      rejected_code: REJECTED_CODE_SCHEMA,
      rejected_msg: REJECTED_MSG_SCHEMA,
      allow_degradation: ALLOW_DEGRADATION_SCHEMA,
      show_limit_quota_header: { type: 'boolean', default: true },
      window_type: { type: 'string', enum: ['fixed'], default: 'fixed' },
    },
    required: ['count', 'time_window'],
    // APISIX fields not built here (`rules`, `window_type: sliding`, redis keepalive settings) are refused by name, not ignored
    additionalProperties: false,
  }),
  metadataSchema: {
    type: 'object',
    properties: {
      limit_header: { ...HEADER_NAME_SCHEMA, default: DEFAULT_HEADERS.limit_header },
      remaining_header: { ...HEADER_NAME_SCHEMA, default: DEFAULT_HEADERS.remaining_header },
      reset_header: { ...HEADER_NAME_SCHEMA, default: DEFAULT_HEADERS.reset_header },
    },
    additionalProperties: false,
  },

  prepare(conf, env) {
    const md = env.metadata ?? {};
    const name = (field: keyof typeof DEFAULT_HEADERS): string =>
      typeof md[field] === 'string' && md[field] !== '' ? md[field] as string : DEFAULT_HEADERS[field];
    const count = limitQuantity(conf.count, 'count');
    const windowSeconds = limitQuantity(conf.time_window, 'time_window');
    const isStatic = typeof count === 'number' && typeof windowSeconds === 'number';
    return {
      count: typeof count === 'number' ? count : 0,
      windowMs: typeof windowSeconds === 'number' ? windowSeconds * 1000 : 0,
      dynamic: isStatic ? undefined : { count, windowSeconds },
      key: compileLimitKey(conf.key_type ?? 'var', conf.key ?? 'remote_addr'),
      groupPrefix: conf.group === undefined ? undefined : `group/${conf.group}:`,
      version: counterVersion(conf),
      rejectedCode: conf.rejected_code ?? 503,
      rejectedMsg: conf.rejected_msg,
      degrade: conf.allow_degradation === true,
      counters: policyCounters(conf),
      showHeaders: conf.show_limit_quota_header !== false,
      limitHeader: name('limit_header'),
      countText: typeof count === 'number' ? String(count) : '',
      remainingHeader: name('remaining_header'),
      resetHeader: name('reset_header'),
    };
  },

  access(p, ctx) {
    if (p.dynamic !== undefined) return accessResolved(p, ctx, p.dynamic);
    const prefix = p.groupPrefix ?? instanceKeyPrefix(p, p.version, ctx);
    let answer: QuotaAnswer | Promise<QuotaAnswer>;
    try {
      answer = hitWindow(counterKey(prefix, p.key(ctx)), p.count, p.windowMs, storeOf(p.counters));
    } catch (err) {
      return failed(p, ctx, err);
    }
    if (answer instanceof Promise) return later(p, ctx, answer);
    return decide(p, ctx, answer);
  },
});

/** access for a `count` or `time_window` given as variables: resolved, then counted under a key that includes them. */
function accessResolved(p: LimitCountPrepared, ctx: PluginContext,
  d: NonNullable<LimitCountPrepared['dynamic']>): PhaseResult | undefined | Promise<PhaseResult | undefined> {
  const count = typeof d.count === 'number' ? d.count : d.count(ctx);
  const windowSeconds = typeof d.windowSeconds === 'number' ? d.windowSeconds : d.windowSeconds(ctx);
  if (count === undefined || windowSeconds === undefined) {
    const field = count === undefined ? 'count' : 'time_window';
    ctx.log.error({ plugin: 'limit-count' }, `failed to get rate limit rules: ${field} did not resolve to a positive integer`);
    return p.degrade ? undefined : rejection(500, undefined);
  }
  const resolved: LimitCountPrepared = { ...p, count, windowMs: windowSeconds * 1000, countText: String(count) };
  const prefix = p.groupPrefix ?? instanceKeyPrefix(p, p.version, ctx);
  let answer: QuotaAnswer | Promise<QuotaAnswer>;
  try {
    answer = hitWindow(`${prefix}${count}/${windowSeconds}:${p.key(ctx)}`, count, resolved.windowMs, storeOf(p.counters));
  } catch (err) {
    return failed(resolved, ctx, err);
  }
  if (answer instanceof Promise) return later(resolved, ctx, answer);
  return decide(resolved, ctx, answer);
}
