// limit-req: limits the request rate per key with a leaky bucket (APISIX limit-req,
// nginx's limit_req). A request within `rate` passes; one above it but within `burst`
// waits until it conforms (or passes at once with `nodelay`); beyond `burst` it is
// rejected. Policy `local`: the bucket is the node's (src/counters/counter-service.ts),
// shared by every worker; `redis` / `redis-cluster`: it is in Redis, shared by every node,
// drained on the Redis server's clock (src/counters/redis-scripts.ts). When the bucket
// cannot be read the request gets APISIX's bare 500, or passes with `allow_degradation`.
import type { PluginContext } from '../contracts/plugin.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import {
  ALLOW_DEGRADATION_SCHEMA, REJECTED_CODE_SCHEMA, REJECTED_MSG_SCHEMA,
  compileLimitKey, instanceScope, limitTiming, rejection,
} from './common/limits.js';
import {
  counterFailure, counterVersion, policyCounters, storeOf, withRedisPolicies, type PolicyCounters, type RedisPolicyConf,
} from './common/redis-policy.js';

export interface LimitReqConf extends RedisPolicyConf {
  rate: number;
  burst: number;
  key: string;
  key_type: 'var' | 'var_combination';
  rejected_code: number;
  rejected_msg?: string;
  nodelay: boolean;
  allow_degradation: boolean;
}

interface LimitReqPrepared {
  rate: number;
  burst: number;
  key: (ctx: PluginContext) => string;
  version: string;
  rejectedCode: number;
  rejectedMsg: string | undefined;
  nodelay: boolean;
  degrade: boolean;
  counters: PolicyCounters;
}

/** APISIX answers a failed bucket with a bare 500 (nginx's page). */
const FAILED = rejection(500, undefined);

export default definePlugin<LimitReqConf, LimitReqPrepared>({
  name: 'limit-req',
  description: 'Limits the request rate per key with the leaky bucket algorithm.',
  version: '0.1',
  stage: 'authorization',
  priority: 201,
  schema: withRedisPolicies({
    type: 'object',
    properties: {
      rate: { type: 'number', exclusiveMinimum: 0 },
      burst: { type: 'number', minimum: 0 },
      key: { type: 'string' },
      key_type: { type: 'string', enum: ['var', 'var_combination'], default: 'var' },
      rejected_code: REJECTED_CODE_SCHEMA,
      rejected_msg: REJECTED_MSG_SCHEMA,
      nodelay: { type: 'boolean', default: false },
      allow_degradation: ALLOW_DEGRADATION_SCHEMA,
    },
    required: ['rate', 'burst', 'key'],
    // APISIX fields not built here (redis keepalive settings) are refused by name, not ignored
    additionalProperties: false,
  }),

  prepare(conf) {
    return {
      rate: conf.rate,
      burst: conf.burst,
      key: compileLimitKey(conf.key_type ?? 'var', conf.key),
      version: counterVersion(conf),
      rejectedCode: conf.rejected_code ?? 503,
      rejectedMsg: conf.rejected_msg,
      nodelay: conf.nodelay === true,
      degrade: conf.allow_degradation === true,
      counters: policyCounters(conf),
    };
  },

  async access(p, ctx) {
    const key = `${instanceScope(p, ctx)}:${p.version}:${p.key(ctx)}`;
    let delayMs: number;
    try {
      delayMs = await storeOf(p.counters).take(key, p.rate, p.burst);
    } catch (err) {
      return counterFailure('limit-req', p.counters, p.degrade, ctx, err, FAILED);
    }
    if (delayMs < 0) return rejection(p.rejectedCode, p.rejectedMsg);
    // APISIX sleeps when the delay is at least 1 ms
    if (delayMs >= 1 && !p.nodelay) await limitTiming.sleep(delayMs);
    return undefined;
  },
});
