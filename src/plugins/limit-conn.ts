// limit-conn: limits concurrent requests per key (APISIX limit-conn, nginx's
// limit_conn). Up to `conn` run at once; up to `burst` more are delayed (by
// `default_conn_delay` seconds per multiple of `conn` above it, a delay that adapts to
// the observed latency unless `only_use_default_delay`); beyond that they are rejected.
// The slot is given back in the log phase, which runs for every request, aborted ones
// included. Policy `local`: the slot counts are the node's
// (src/counters/counter-service.ts), the limit holds across workers, and the slots of a
// worker that dies are given back. `redis` / `redis-cluster`: they are in Redis, the
// limit holds across nodes, and a slot never given back (its node died) expires after
// `key_ttl` seconds. When the slots cannot be counted the request gets APISIX's bare 500,
// or passes with `allow_degradation`.
import type { PluginContext, StreamSession } from '../contracts/plugin.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import {
  ALLOW_DEGRADATION_SCHEMA, REJECTED_CODE_SCHEMA, REJECTED_MSG_SCHEMA,
  compileLimitKey, instanceScope, limitTiming, rejection, type LimitKeyContext,
} from './common/limits.js';
import {
  counterFailure, counterVersion, policyCounters, storeOf, withRedisPolicies, type PolicyCounters, type RedisPolicyConf,
} from './common/redis-policy.js';

export interface LimitConnConf extends RedisPolicyConf {
  conn: number;
  burst: number;
  default_conn_delay: number;
  only_use_default_delay: boolean;
  key: string;
  key_type: 'var' | 'var_combination';
  rejected_code: number;
  rejected_msg?: string;
  allow_degradation: boolean;
  /** Seconds a slot lives in Redis when never given back (redis policies only). */
  key_ttl?: number;
}

interface LimitConnPrepared {
  conn: number;
  burst: number;
  /** Seconds per multiple of `conn` above it; adapted in log (per worker, as APISIX's per-worker object). */
  unitDelay: number;
  adaptive: boolean;
  key: (ctx: LimitKeyContext) => string;
  version: string;
  rejectedCode: number;
  rejectedMsg: string | undefined;
  degrade: boolean;
  counters: PolicyCounters;
  slotTtlMs: number;
}

/** APISIX answers failed slot accounting with a bare 500 (nginx's page). */
const FAILED = rejection(500, undefined);

/** The slots one request holds. `closed` once log ran: a slot acquired after that is given back at once. */
interface Held {
  closed: boolean;
  slots: { p: LimitConnPrepared; key: string; delay: number }[];
}

const STATE = 'limit-conn:held';

/** A stream session's slot: given back by the stream log phase, when the connection or UDP session ends. */
const STREAM_STATE = 'limit-conn:stream-slots';
type StreamSlots = { key: string; p: LimitConnPrepared }[];

function held(ctx: PluginContext): Held {
  let h = ctx.shared.get(STATE) as Held | undefined;
  if (h === undefined) ctx.shared.set(STATE, (h = { closed: false, slots: [] }));
  return h;
}

export default definePlugin<LimitConnConf, LimitConnPrepared>({
  name: 'limit-conn',
  description: 'Limits the number of concurrent requests per key (client address, consumer, variable).',
  version: '0.1',
  stage: 'authorization',
  priority: 203,
  schema: withRedisPolicies({
    type: 'object',
    properties: {
      conn: { type: 'integer', exclusiveMinimum: 0 },
      burst: { type: 'integer', minimum: 0 },
      default_conn_delay: { type: 'number', exclusiveMinimum: 0 },
      only_use_default_delay: { type: 'boolean', default: false },
      key: { type: 'string' },
      key_type: { type: 'string', enum: ['var', 'var_combination'], default: 'var' },
      rejected_code: REJECTED_CODE_SCHEMA,
      rejected_msg: REJECTED_MSG_SCHEMA,
      allow_degradation: ALLOW_DEGRADATION_SCHEMA,
    },
    required: ['conn', 'burst', 'default_conn_delay', 'key'],
    // APISIX fields not built here (`rules`, redis keepalive settings) are refused by name, not ignored
    additionalProperties: false,
  }, {
    // APISIX's key_ttl (no bound there; a slot that expires at once would not limit anything)
    key_ttl: { type: 'integer', minimum: 1, default: 3600, description: 'policies redis and redis-cluster: seconds a slot never given back lives; default 3600' },
  }),

  prepare(conf) {
    return {
      conn: conf.conn,
      burst: conf.burst,
      unitDelay: conf.default_conn_delay,
      adaptive: conf.only_use_default_delay !== true,
      key: compileLimitKey(conf.key_type ?? 'var', conf.key),
      version: counterVersion(conf),
      rejectedCode: conf.rejected_code ?? 503,
      rejectedMsg: conf.rejected_msg,
      degrade: conf.allow_degradation === true,
      counters: policyCounters(conf, ['key_ttl']),
      slotTtlMs: (conf.key_ttl ?? 3600) * 1000,
    };
  },

  async access(p, ctx) {
    const key = `${instanceScope(p, ctx)}:${p.version}:${p.key(ctx)}`;
    const store = storeOf(p.counters);
    // before waiting: a log phase that runs meanwhile (client gone) must find it
    const h = held(ctx);
    let inUse: number;
    try {
      inUse = await store.acquire(key, p.conn + p.burst, p.slotTtlMs);
    } catch (err) {
      return counterFailure('limit-conn', p.counters, p.degrade, ctx, err, FAILED);
    }
    if (inUse < 0) return rejection(p.rejectedCode, p.rejectedMsg);
    if (h.closed) {
      // the client went away while we waited for the slot: log already ran
      store.release(key);
      return undefined;
    }
    const delay = inUse > p.conn ? p.unitDelay * Math.floor((inUse - 1) / p.conn) : 0;
    h.slots.push({ p, key, delay });
    if (delay >= 0.001) await limitTiming.sleep(delay * 1000);
    return undefined;
  },

  log(_p, ctx) {
    const h = ctx.shared.get(STATE) as Held | undefined;
    if (h === undefined) return;
    h.closed = true;
    if (h.slots.length === 0) return;
    // the first limit-conn instance to log gives back every slot of the request
    const elapsed = (performance.now() - ctx.startedAt) / 1000;
    for (const s of h.slots) {
      storeOf(s.p.counters).release(s.key);
      // APISIX: the unit delay follows the request time (minus our own delay) as a running mean
      if (s.p.adaptive) s.p.unitDelay = (Math.max(0, elapsed - s.delay) + s.p.unitDelay) / 2;
    }
    h.slots = [];
  },

  // APISIX's stream limit-conn: concurrent connections (TCP) or sessions (UDP) per key;
  // one over conn + burst is closed, one within the burst waits its delay before proxying.
  stream: {
    async preread(p, session) {
      const keyOf = p.key({ var: (name) => session.var(name), request: { remoteAddr: session.remoteAddr } });
      const key = `stream_route/${session.routeId}:${p.version}:${keyOf}`;
      const store = storeOf(p.counters);
      let inUse: number;
      try {
        inUse = await store.acquire(key, p.conn + p.burst, p.slotTtlMs);
      } catch (err) {
        session.log.error({ plugin: 'limit-conn', policy: p.counters.policy, err: (err as Error).message }, 'failed to limit conn');
        return p.degrade ? undefined : { status: 500, reason: 'limit-conn: failed to count connections' };
      }
      if (inUse < 0) return { status: 503, reason: 'limit-conn: too many connections' };
      let slots = session.shared.get(STREAM_STATE) as StreamSlots | undefined;
      if (slots === undefined) session.shared.set(STREAM_STATE, (slots = []));
      slots.push({ key, p });
      const delay = inUse > p.conn ? p.unitDelay * Math.floor((inUse - 1) / p.conn) : 0;
      if (delay >= 0.001) await limitTiming.sleep(delay * 1000);
      return undefined;
    },
    log(_p, session: StreamSession) {
      const slots = session.shared.get(STREAM_STATE) as StreamSlots | undefined;
      if (slots === undefined) return;
      session.shared.delete(STREAM_STATE);
      for (const s of slots) storeOf(s.p.counters).release(s.key);
    },
  },
});
