// ai-token-ratelimit (Higress's): cluster-key-rate-limit's rules and keys, counting an AI
// call's tokens instead of requests. The request only reads its window's count and is
// refused when it is past the threshold; the tokens the answer really used (input +
// output, from ai-proxy's AI context or, on a route whose upstream is the model, read here
// from the JSON or streamed answer) are added at the response's end. So one call may
// overshoot the threshold and the next is refused, as in Higress. Counters: this node's
// (src/counters, shared by its workers) without `redis`, else Redis with Higress's keys
// `higress-token-ratelimit:<rule_name>:<limit type>:<window s>:<source>:<value>`.
import type { PhaseResult, PluginContext } from '../contracts/plugin.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { counterStore, type RedisCounterStore } from '../counters/index.js';
import { counterFailure, storeOf } from './common/redis-policy.js';
import { HIGRESS_REDIS_SCHEMA } from './common/higress-redis.js';
import type { KeyQuota } from './common/key-limits.js';
import { routeCounter, setLoggedText } from './common/observe.js';
import {
  prepareRules, ruleSchemaProperties, type ClusterKeyRateLimitConf, type PreparedRules,
} from './cluster-key-rate-limit.js';
import { watchAiChunk, watchAiResponse, watchedAiContext } from '../ai/context/usage-watch.js';

export type AiTokenRatelimitConf = Omit<ClusterKeyRateLimitConf, 'show_limit_quota_header' | 'global_threshold'> & {
  global_threshold?: Record<string, number>;
};

type Prepared = PreparedRules;

interface Counted { key: string; quota: KeyQuota }

const PREFIX = 'higress-token-ratelimit';
const STATE = 'ai-token-ratelimit.counted';

/** For access logs: the counter the call's tokens went to (Higress's Redis key); nil when none. */
registerVariable('ai_token_ratelimit_key');
/** `limited` when the request was refused (Higress's ai_log `token_ratelimit_status`). */
registerVariable('ai_token_ratelimit_status');

const countRejected = routeCounter('gatehouse_ai_token_ratelimit_rejected_total',
  'Requests ai-token-ratelimit refused, by route.');

export default definePlugin<AiTokenRatelimitConf, Prepared>({
  name: 'ai-token-ratelimit',
  description: 'Limits the tokens AI calls use per rule and key value in fixed windows, counted on the real usage, per node or in Redis.',
  version: '0.1',
  stage: 'default',
  priority: 600,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ...ruleSchemaProperties('token'),
      rejected_code: { type: 'integer', minimum: 200, maximum: 599, default: 429 },
      rejected_msg: { type: 'string', default: 'Too many requests' },
      redis: HIGRESS_REDIS_SCHEMA,
    },
    required: ['rule_name'],
  },

  prepare: (conf) => prepareRules(conf, 'token'),

  async access(p, ctx) {
    const counted = counterOf(p, ctx);
    if (counted === undefined) return undefined;
    setLoggedText(ctx, 'ai_token_ratelimit_key', counted.key);
    let window: { count: number; resetSeconds: number };
    try {
      window = await addTokens(p, counted, 0);
    } catch (err) {
      counterFailure('ai-token-ratelimit', p.counters, true, ctx, err, { status: 500 });
      return undefined;
    }
    if (window.count > counted.quota.count) return refuse(p, ctx, window.resetSeconds);
    ctx.shared.set(STATE, counted);
    return undefined;
  },

  header_filter(_p, ctx) {
    if (ctx.shared.has(STATE)) watchAiResponse(ctx, 'ai-token-ratelimit');
  },

  filtersBody: () => true,
  keepsBodyLength: () => true,

  body_filter(_p, ctx, chunk, eof) {
    if (ctx.shared.has(STATE)) watchAiChunk(ctx, 'ai-token-ratelimit', chunk, eof);
    return undefined;
  },

  async log(p, ctx) {
    const counted = ctx.shared.get(STATE) as Counted | undefined;
    if (counted === undefined) return;
    ctx.shared.delete(STATE);
    const usage = watchedAiContext(ctx)?.usage; // an answer cut short: what was read counts
    const tokens = usage === undefined ? 0 : usage.prompt + usage.completion;
    if (tokens <= 0) return;
    try {
      await addTokens(p, counted, tokens);
    } catch (err) {
      counterFailure('ai-token-ratelimit', p.counters, true, ctx, err, { status: 500 });
    }
  },
});

function counterOf(p: Prepared, ctx: PluginContext): Counted | undefined {
  if (p.global !== undefined) return { key: `${PREFIX}:${p.ruleName}:global_threshold:${p.global.windowSeconds}`, quota: p.global };
  for (const item of p.items) {
    const hit = item.match(ctx);
    if (hit !== undefined) {
      return { key: `${PREFIX}:${p.ruleName}:${item.type}:${hit.quota.windowSeconds}:${item.source}:${hit.value}`, quota: hit.quota };
    }
  }
  return undefined;
}

/** Adds `by` tokens to the request's window (0: reads it); the count after and the seconds left in the window. */
async function addTokens(p: Prepared, counted: Counted, by: number): Promise<{ count: number; resetSeconds: number }> {
  const { key, quota } = counted;
  if (p.counters.target === undefined) {
    const r = await counterStore().incr(key, by, quota.windowSeconds * 1000);
    return { count: r.count, resetSeconds: Math.max(0, Math.ceil(r.resetMs / 1000)) };
  }
  const r = await (storeOf(p.counters) as RedisCounterStore).addTokens(key, quota.count, quota.windowSeconds, by);
  return { count: r.count, resetSeconds: Math.max(0, r.ttlSeconds) };
}

function refuse(p: Prepared, ctx: PluginContext, resetSeconds: number): PhaseResult {
  countRejected(ctx);
  ctx.setVar('ai_token_ratelimit_status', 'limited');
  return { status: p.rejectedCode, body: p.rejectedMsg, headers: { 'content-type': 'text/plain', 'X-TokenRateLimit-Reset': String(resetSeconds) } };
}
