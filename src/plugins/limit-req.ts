// limit-req: limits the request rate per key with a leaky bucket (APISIX limit-req,
// nginx's limit_req; policy `local`). A request within `rate` passes; one above it but
// within `burst` waits until it conforms (or passes at once with `nodelay`); beyond
// `burst` it is rejected. The bucket is the node's (src/process/counter-service.ts),
// shared by every worker.
import type { PluginContext } from '../contracts/plugin.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import {
  ALLOW_DEGRADATION_SCHEMA, POLICY_SCHEMA, REJECTED_CODE_SCHEMA, REJECTED_MSG_SCHEMA,
  compileLimitKey, confVersion, instanceScope, limitTiming, rejection,
} from './common/limits.js';
import { counterStore } from '../counters/index.js';

export interface LimitReqConf {
  rate: number;
  burst: number;
  key: string;
  key_type: 'var' | 'var_combination';
  rejected_code: number;
  rejected_msg?: string;
  nodelay: boolean;
  allow_degradation: boolean;
  policy: 'local';
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
}

export default definePlugin<LimitReqConf, LimitReqPrepared>({
  name: 'limit-req',
  version: '0.1',
  stage: 'authorization',
  priority: 201,
  schema: {
    type: 'object',
    properties: {
      rate: { type: 'number', exclusiveMinimum: 0 },
      burst: { type: 'number', minimum: 0 },
      key: { type: 'string' },
      key_type: { type: 'string', enum: ['var', 'var_combination'], default: 'var' },
      policy: POLICY_SCHEMA,
      rejected_code: REJECTED_CODE_SCHEMA,
      rejected_msg: REJECTED_MSG_SCHEMA,
      nodelay: { type: 'boolean', default: false },
      allow_degradation: ALLOW_DEGRADATION_SCHEMA,
    },
    required: ['rate', 'burst', 'key'],
    // APISIX fields not built here (the redis policies' `redis_*`) are refused by name, not ignored
    additionalProperties: false,
  },

  prepare(conf) {
    return {
      rate: conf.rate,
      burst: conf.burst,
      key: compileLimitKey(conf.key_type ?? 'var', conf.key),
      version: confVersion(conf),
      rejectedCode: conf.rejected_code ?? 503,
      rejectedMsg: conf.rejected_msg,
      nodelay: conf.nodelay === true,
      degrade: conf.allow_degradation === true,
    };
  },

  async access(p, ctx) {
    const key = `${instanceScope(p, ctx)}:${p.version}:${p.key(ctx)}`;
    let delayMs: number;
    try {
      delayMs = await counterStore().take(key, p.rate, p.burst);
    } catch (err) {
      ctx.log.error({ err: (err as Error).message }, `failed to limit req: ${(err as Error).message}`);
      if (p.degrade) return undefined;
      return { status: 500, body: { error_msg: 'failed to limit req' } };
    }
    if (delayMs < 0) return rejection(p.rejectedCode, p.rejectedMsg);
    // APISIX sleeps when the delay is at least 1 ms
    if (delayMs >= 1 && !p.nodelay) await limitTiming.sleep(delayMs);
    return undefined;
  },
});
