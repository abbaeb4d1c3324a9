// key-rate-limit (Higress's wasm-cpp key_rate_limit): requests whose header
// (`limit_by_header`) or query parameter (`limit_by_param`) holds one of the `limit_keys`
// get at most that key's count per second, minute, hour or day; any other value (or none)
// passes uncounted. Higress keeps a token bucket per key in each gateway instance, filled
// back to full every unit; here a fixed window per key in the node's counters
// (src/counters/), shared by every worker of the node, as limit-count's `local` policy.
// A refusal is Higress's local reply: 429 with the body `rate_limited`, no quota headers.
import type { PhaseResult, PluginContext } from '../contracts/plugin.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { hitWindow, type QuotaAnswer } from '../counters/index.js';
import { confVersion, instanceKeyPrefix } from './common/limits.js';
import { keyQuota, limitKeyEntrySchema, rawQueryParam, type KeyQuota, type LimitKeyEntry } from './common/key-limits.js';
import { HEADER_NAME_SCHEMA } from './common/headers.js';
import { counterFailure, type PolicyCounters } from './common/redis-policy.js';
import { routeCounter, setLoggedText } from './common/observe.js';

export interface KeyRateLimitConf {
  limit_by_header?: string;
  limit_by_param?: string;
  limit_keys: LimitKeyEntry[];
}

interface KeyRateLimitPrepared {
  header: string | undefined;
  param: string | undefined;
  quotas: Map<string, KeyQuota>;
  version: string;
}

/** For access logs: the listed key a request was counted under (nil when it was not). */
registerVariable('key_rate_limit_key');

const countRejected = routeCounter('gatehouse_key_rate_limit_rejected_total', 'Requests key-rate-limit refused (429), by route');

/** Higress: sendLocalResponse(429, "Too many requests", "rate_limited"): the detail is not the body. */
const REFUSED: PhaseResult = { status: 429, body: 'rate_limited', headers: { 'content-type': 'text/plain' } };

export default definePlugin<KeyRateLimitConf, KeyRateLimitPrepared>({
  name: 'key-rate-limit',
  description: 'Limits requests per second, minute, hour or day for listed values of a header or query parameter.',
  version: '0.1',
  stage: 'default',
  priority: 10,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      limit_by_header: { ...HEADER_NAME_SCHEMA, description: 'the request header holding the key (this or limit_by_param)' },
      limit_by_param: { type: 'string', minLength: 1, description: 'the query parameter holding the key (this or limit_by_header)' },
      limit_keys: { type: 'array', minItems: 1, maxItems: 10_000, items: limitKeyEntrySchema({ type: 'string', maxLength: 4096 }) },
    },
    required: ['limit_keys'],
  },

  prepare(conf) {
    if ((conf.limit_by_header === undefined) === (conf.limit_by_param === undefined)) {
      throw new Error('limit_by_header, limit_by_param: exactly one of them must be set');
    }
    const quotas = new Map<string, KeyQuota>();
    conf.limit_keys.forEach((entry, i) => {
      const quota = keyQuota(entry, `limit_keys[${i}]`);
      // Higress keeps the first entry of a key given twice
      if (!quotas.has(entry.key)) quotas.set(entry.key, quota);
    });
    return {
      header: conf.limit_by_header?.toLowerCase(),
      param: conf.limit_by_param,
      quotas,
      version: confVersion(conf),
    };
  },

  access(p, ctx) {
    // an absent header or parameter is the empty key, as Higress reads it
    const value = (p.header !== undefined ? ctx.request.header(p.header) : rawQueryParam(ctx, p.param!)) ?? '';
    const quota = p.quotas.get(value);
    if (quota === undefined) return undefined;
    setLoggedText(ctx, 'key_rate_limit_key', value);
    let answer: QuotaAnswer | Promise<QuotaAnswer>;
    try {
      answer = hitWindow(`${instanceKeyPrefix(p, p.version, ctx)}${value}`, quota.count, quota.windowSeconds * 1000);
    } catch (err) {
      return failed(ctx, err);
    }
    if (answer instanceof Promise) return answer.then((a) => decide(ctx, a), (err: unknown) => failed(ctx, err));
    return decide(ctx, answer);
  },
});

const LOCAL: PolicyCounters = { policy: 'local', target: undefined, redis: undefined };

/** The node's counters could not answer (the primary is gone): the request passes, as with a failing Redis, and it is logged. */
function failed(ctx: PluginContext, err: unknown): undefined {
  counterFailure('key-rate-limit', LOCAL, true, ctx, err, REFUSED);
  return undefined;
}

function decide(ctx: PluginContext, a: QuotaAnswer): PhaseResult | undefined {
  if (a.admitted) return undefined;
  countRejected(ctx);
  return REFUSED;
}
