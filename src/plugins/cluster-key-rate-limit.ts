// cluster-key-rate-limit (Higress's): fixed windows per rule and key value, counted in
// Redis (`redis`) so every gateway node configured alike shares them, or in this node's
// counters (src/counters/, shared by its workers) when no `redis` is given. Either
// `global_threshold` (one counter for the rule) or `rule_items`, tried in order: the
// first item whose source (header, query parameter, consumer, cookie, client IP) has a
// value matching one of its `limit_keys` counts the request; a request no item matches
// passes uncounted. Counter names are Higress's Redis keys:
// `higress-cluster-key-rate-limit:<rule_name>:<limit type>:<window s>:<source>:<value>`,
// so routes with the same `rule_name` share counters, as in Higress.
//
// Redis answers with Higress's script (counting stops one past the threshold). A Redis
// that fails or is slower than `redis.timeout` lets the request pass (Higress does), and
// is logged and counted in `gatehouse_limit_redis_errors_total` (common/redis-policy.ts).
import type { PhaseResult, PluginContext } from '../contracts/plugin.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { hitWindow, type QuotaAnswer } from '../counters/index.js';
import { counterFailure, storeOf, type PolicyCounters } from './common/redis-policy.js';
import { keyQuota, limitKeyEntrySchema, type KeyQuota, type LimitKeyEntry, type LimitUnit } from './common/key-limits.js';
import { HEADER_NAME_SCHEMA } from './common/headers.js';
import { routeCounter, setLoggedText } from './common/observe.js';
import { compileRuleItem, type RuleItemConf, type RuleItem } from './common/key-limit-items.js';
import type { RedisCounterStore } from '../counters/index.js';
import { HIGRESS_REDIS_SCHEMA, higressRedisTarget, type HigressRedisConf } from './common/higress-redis.js';

export interface ClusterKeyRateLimitConf {
  rule_name: string;
  global_threshold?: Omit<LimitKeyEntry, 'key'>;
  rule_items?: RuleItemConf[];
  show_limit_quota_header: boolean;
  rejected_code: number;
  rejected_msg: string;
  redis?: HigressRedisConf;
}

/** The rules, refusal and counters of a Higress limit plugin (this one, ai-token-ratelimit). */
export interface PreparedRules {
  ruleName: string;
  global: KeyQuota | undefined;
  items: RuleItem[];
  rejectedCode: number;
  rejectedMsg: string;
  counters: PolicyCounters;
}

interface Prepared extends PreparedRules {
  showHeaders: boolean;
}

/** Checks and compiles the fields both Higress limit plugins share; `unit` names what they count. */
export function prepareRules(conf: Omit<ClusterKeyRateLimitConf, 'show_limit_quota_header' | 'global_threshold'> & {
  global_threshold?: Record<string, unknown>;
}, unit: LimitUnit): PreparedRules {
  if ((conf.global_threshold === undefined) === (conf.rule_items === undefined)) {
    throw new Error('global_threshold, rule_items: exactly one of them must be set');
  }
  return {
    ruleName: conf.rule_name,
    global: conf.global_threshold === undefined ? undefined : keyQuota(conf.global_threshold, 'global_threshold', unit),
    items: (conf.rule_items ?? []).map((item, i) => compileRuleItem(item, `rule_items[${i}]`, unit)),
    rejectedCode: conf.rejected_code ?? 429,
    rejectedMsg: conf.rejected_msg ?? 'Too many requests',
    counters: policyOf(conf.redis),
  };
}

const PREFIX = 'higress-cluster-key-rate-limit';

/** For access logs: the counter a request was counted under (Higress's Redis key); nil when none. */
registerVariable('cluster_key_rate_limit_key');

const countRejected = routeCounter('gatehouse_cluster_key_rate_limit_rejected_total',
  'Requests cluster-key-rate-limit refused, by route');

const UNIT_SCHEMA = { type: 'integer', minimum: 0 } as const;

const RULE_ITEM_SOURCES = {
  limit_by_header: HEADER_NAME_SCHEMA,
  limit_by_param: { type: 'string', minLength: 1 },
  limit_by_consumer: { type: 'string', description: 'any text: the consumer the auth plugins identified is the value' },
  limit_by_cookie: { type: 'string', minLength: 1 },
  limit_by_per_header: HEADER_NAME_SCHEMA,
  limit_by_per_param: { type: 'string', minLength: 1 },
  limit_by_per_consumer: { type: 'string' },
  limit_by_per_cookie: { type: 'string', minLength: 1 },
  limit_by_per_ip: { type: 'string', pattern: '^(from-remote-addr|from-header-[!-9;-~]+)$' },
} as const;

/** `rule_name`, `global_threshold` and `rule_items`, counting requests (`query`) or tokens (ai-token-ratelimit). */
export function ruleSchemaProperties(unit: LimitUnit): Record<string, unknown> {
  return {
    rule_name: { type: 'string', minLength: 1, maxLength: 256 },
    global_threshold: {
      type: 'object', additionalProperties: false,
      properties: Object.fromEntries(['second', 'minute', 'hour', 'day'].map((per) => [`${unit}_per_${per}`, UNIT_SCHEMA])),
    },
    rule_items: {
      type: 'array', minItems: 1, maxItems: 256,
      items: {
        type: 'object', additionalProperties: false,
        properties: {
          ...RULE_ITEM_SOURCES,
          limit_keys: { type: 'array', minItems: 1, maxItems: 10_000, items: limitKeyEntrySchema({ type: 'string', minLength: 1, maxLength: 4096 }, unit) },
        },
        required: ['limit_keys'],
      },
    },
  };
}

export default definePlugin<ClusterKeyRateLimitConf, Prepared>({
  name: 'cluster-key-rate-limit',
  description: 'Limits requests per rule and key value in fixed windows, shared by every gateway node through Redis.',
  version: '0.1',
  stage: 'default',
  priority: 20,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ...ruleSchemaProperties('query'),
      show_limit_quota_header: { type: 'boolean', default: false },
      rejected_code: { type: 'integer', minimum: 200, maximum: 599, default: 429 },
      rejected_msg: { type: 'string', default: 'Too many requests' },
      redis: HIGRESS_REDIS_SCHEMA,
    },
    required: ['rule_name'],
  },

  prepare(conf) {
    return { ...prepareRules(conf, 'query'), showHeaders: conf.show_limit_quota_header === true };
  },

  access(p, ctx) {
    let key: string;
    let quota: KeyQuota;
    if (p.global !== undefined) {
      quota = p.global;
      key = `${PREFIX}:${p.ruleName}:global_threshold:${quota.windowSeconds}`;
    } else {
      const hit = firstHit(p.items, ctx);
      if (hit === undefined) return undefined;
      quota = hit.quota;
      key = `${PREFIX}:${p.ruleName}:${hit.item.type}:${quota.windowSeconds}:${hit.item.source}:${hit.value}`;
    }
    setLoggedText(ctx, 'cluster_key_rate_limit_key', key);
    const threshold = quota.count;
    if (p.counters.target === undefined) {
      let answer: QuotaAnswer | Promise<QuotaAnswer>;
      try {
        answer = hitWindow(key, threshold, quota.windowSeconds * 1000);
      } catch (err) {
        return failed(p, ctx, err);
      }
      if (answer instanceof Promise) return answer.then((a) => decide(p, ctx, threshold, counted(a)), (err: unknown) => failed(p, ctx, err));
      return decide(p, ctx, threshold, counted(answer));
    }
    return (storeOf(p.counters) as RedisCounterStore).hitThreshold(key, threshold, quota.windowSeconds).then(
      (r) => decide(p, ctx, threshold, { admitted: r.count <= threshold, remaining: threshold - r.count, resetSeconds: r.ttlSeconds }),
      (err: unknown) => failed(p, ctx, err));
  },
});

/** `redis` as the gateway's Redis target (policy `redis` of limit-count); none: the node's counters. */
function policyOf(redis: ClusterKeyRateLimitConf['redis']): PolicyCounters {
  if (redis === undefined) return { policy: 'local', target: undefined, redis: undefined };
  return { policy: 'redis', redis: undefined, target: higressRedisTarget(redis) };
}

interface Count {
  admitted: boolean;
  remaining: number;
  /** Seconds left in the window. */
  resetSeconds: number;
}

function counted(a: QuotaAnswer): Count {
  return { admitted: a.admitted, remaining: a.remaining, resetSeconds: Math.max(0, Math.ceil(a.resetMs / 1000)) };
}

function firstHit(items: readonly RuleItem[], ctx: PluginContext): { item: RuleItem; value: string; quota: KeyQuota } | undefined {
  for (const item of items) {
    const hit = item.match(ctx);
    if (hit !== undefined) return { item, ...hit };
  }
  return undefined;
}

function decide(p: Prepared, ctx: PluginContext, threshold: number, c: Count): PhaseResult | undefined {
  if (!c.admitted) {
    countRejected(ctx);
    const headers: Record<string, string> = { 'content-type': 'text/plain', 'X-RateLimit-Reset': String(c.resetSeconds) };
    if (p.showHeaders) Object.assign(headers, { 'X-RateLimit-Limit': String(threshold), 'X-RateLimit-Remaining': '0' });
    return { status: p.rejectedCode, body: p.rejectedMsg, headers };
  }
  if (p.showHeaders) {
    ctx.setResponseHeader('X-RateLimit-Limit', String(threshold));
    ctx.setResponseHeader('X-RateLimit-Remaining', String(c.remaining));
  }
  return undefined;
}

function failed(p: Prepared, ctx: PluginContext, err: unknown): undefined {
  counterFailure('cluster-key-rate-limit', p.counters, true, ctx, err, { status: 500 });
  return undefined;
}
