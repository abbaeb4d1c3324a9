// The counter policies limit-count, limit-req and limit-conn share, as APISIX 3.x has
// them (apisix/utils/redis-schema.lua): `local` (this node's workers), `redis` (one
// server) and `redis-cluster`, each with APISIX's field names, defaults and required
// fields. A redis field given with a policy it does not belong to is refused naming it
// (APISIX ignores it; here a field is never accepted and ignored).
//
// Also the failure path of the three plugins: when the counters cannot answer (Redis
// down, slow beyond `redis_timeout`, the primary gone), the request passes with
// `allow_degradation`, else gets APISIX's 500; either way it is logged — at most one line
// per plugin and policy every few seconds, with how many failed since, never the
// configuration (it holds `redis_password`) — and, for the redis policies, counted in
// `gatehouse_limit_redis_errors_total{plugin,policy}`.
import type { PhaseResult, PluginContext } from '../../contracts/plugin.js';
import { counterStore, RedisCounterStore, type RedisTarget } from '../../counters/index.js';
import type { CounterStore } from '../../contracts/counter-store.js';
import { counter } from '../../observability/metrics.js';
import { confVersion } from './limits.js';

export type LimitPolicy = 'local' | 'redis' | 'redis-cluster';

/** The redis fields of a limit plugin's configuration, as APISIX names them. */
export interface RedisPolicyConf {
  policy?: LimitPolicy;
  allow_degradation?: boolean;
  redis_host?: string;
  redis_port?: number;
  redis_username?: string;
  redis_password?: string;
  redis_database?: number;
  redis_timeout?: number;
  redis_ssl?: boolean;
  redis_ssl_verify?: boolean;
  redis_cluster_nodes?: string[];
  redis_cluster_name?: string;
  redis_cluster_ssl?: boolean;
  redis_cluster_ssl_verify?: boolean;
}

type Schema = Record<string, unknown>;

/** Types and bounds of every redis field (APISIX's); defaults are set per policy below. */
const REDIS_PROPERTIES: Record<string, Schema> = {
  redis_host: { type: 'string', minLength: 2, description: 'policy redis, required: the server\'s address' },
  redis_port: { type: 'integer', minimum: 1, maximum: 65535, description: 'policy redis; default 6379' },
  redis_username: { type: 'string', minLength: 1, description: 'policy redis: the ACL user (with redis_password)' },
  // a secret: masked for viewers on Admin reads (plugin-runtime/secret-fields.ts)
  redis_password: { type: 'string', minLength: 0, encrypted: true, description: 'policies redis and redis-cluster; a secret, never logged' },
  redis_database: { type: 'integer', minimum: 0, description: 'policy redis; default 0' },
  redis_timeout: { type: 'integer', minimum: 1, description: 'policies redis and redis-cluster: ms an operation may take; default 1000' },
  redis_ssl: { type: 'boolean', description: 'policy redis: TLS; default false' },
  redis_ssl_verify: { type: 'boolean', description: 'policy redis: verify the server\'s certificate; default false' },
  redis_cluster_nodes: {
    type: 'array', minItems: 1, items: { type: 'string', minLength: 2, maxLength: 100 },
    description: 'policy redis-cluster, required: host:port of some of its nodes',
  },
  redis_cluster_name: { type: 'string', description: 'policy redis-cluster, required: a name for the cluster' },
  redis_cluster_ssl: { type: 'boolean', description: 'policy redis-cluster: TLS; default false' },
  redis_cluster_ssl_verify: { type: 'boolean', description: 'policy redis-cluster: verify the certificates; default false' },
};

/** Each redis policy's fields with their defaults (undefined: none), and what it requires. */
const POLICIES: Record<Exclude<LimitPolicy, 'local'>, { fields: Record<string, unknown>; required: string[] }> = {
  redis: {
    fields: {
      redis_host: undefined, redis_port: 6379, redis_username: undefined, redis_password: undefined,
      redis_database: 0, redis_timeout: 1000, redis_ssl: false, redis_ssl_verify: false,
    },
    required: ['redis_host'],
  },
  'redis-cluster': {
    fields: {
      redis_cluster_nodes: undefined, redis_password: undefined, redis_timeout: 1000, redis_cluster_name: undefined,
      redis_cluster_ssl: false, redis_cluster_ssl_verify: false,
    },
    required: ['redis_cluster_nodes', 'redis_cluster_name'],
  },
};

function branch(policy: Exclude<LimitPolicy, 'local'>, extra: Record<string, Schema & { default?: unknown }>): Schema {
  const properties: Record<string, Schema> = {};
  for (const [name, dflt] of Object.entries(POLICIES[policy].fields)) if (dflt !== undefined) properties[name] = { default: dflt };
  for (const [name, s] of Object.entries(extra)) if (s.default !== undefined) properties[name] = { default: s.default };
  return { properties, required: POLICIES[policy].required };
}

/**
 * `schema` with `policy` and the redis fields: every field declared at the top (so
 * `additionalProperties: false` still refuses unknown ones), the chosen policy's
 * required fields and defaults applied by an if/then/else on `policy`, as APISIX's.
 * `extra`: fields of the redis policies of this plugin only (limit-conn's `key_ttl`).
 */
export function withRedisPolicies(schema: Schema, extra: Record<string, Schema & { default?: unknown }> = {}): Schema {
  const extraTypes = Object.fromEntries(Object.entries(extra).map(([k, { default: _d, ...s }]) => [k, s]));
  return {
    ...schema,
    properties: {
      ...(schema.properties as Schema),
      policy: {
        type: 'string', enum: ['local', 'redis', 'redis-cluster'], default: 'local',
        description: 'where the counters live: this node (local), one Redis server, or a Redis Cluster (shared by every node)',
      },
      ...REDIS_PROPERTIES,
      ...extraTypes,
    },
    if: { properties: { policy: { const: 'redis' } }, required: ['policy'] },
    then: branch('redis', extra),
    else: {
      if: { properties: { policy: { const: 'redis-cluster' } }, required: ['policy'] },
      then: branch('redis-cluster', extra),
    },
  };
}

/** `host:port`, `[v6]:port`; a port is required (APISIX parses with core.utils.parse_addr, whose default is 80: never Redis). */
function clusterNode(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(text.trim());
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || port < 1 || port > 65535) {
    throw new Error(`redis_cluster_nodes: "${text}" is not host:port`);
  }
  return { host: m[1] ?? m[2]!, port };
}

/**
 * The Redis target of a validated configuration (defaults filled), or undefined for the
 * `local` policy. Throws naming a field that does not belong to the chosen policy.
 * `extra`: the plugin's own redis-policy fields (limit-conn's `key_ttl`).
 */
export function redisTarget(conf: RedisPolicyConf, extra: readonly string[] = []): RedisTarget | undefined {
  const policy = conf.policy ?? 'local';
  const own = policy === 'local' ? [] : [...Object.keys(POLICIES[policy].fields), ...extra];
  for (const field of [...Object.keys(REDIS_PROPERTIES), ...extra]) {
    if ((conf as Record<string, unknown>)[field] === undefined || own.includes(field)) continue;
    const home = (Object.keys(POLICIES) as (keyof typeof POLICIES)[]).filter((p) => field in POLICIES[p].fields || extra.includes(field));
    throw new Error(`${field} is not a field of policy "${policy}" (it belongs to policy ${home.map((p) => `"${p}"`).join(' and ')})`);
  }
  if (policy === 'local') return undefined;
  const timeoutMs = conf.redis_timeout ?? 1000;
  if (policy === 'redis') {
    return {
      policy, host: conf.redis_host!, port: conf.redis_port ?? 6379, database: conf.redis_database ?? 0,
      ...(conf.redis_username !== undefined ? { username: conf.redis_username } : {}),
      ...(conf.redis_password !== undefined ? { password: conf.redis_password } : {}),
      tls: conf.redis_ssl === true, tlsVerify: conf.redis_ssl_verify === true, timeoutMs,
    };
  }
  return {
    policy, nodes: conf.redis_cluster_nodes!.map(clusterNode), name: conf.redis_cluster_name!,
    ...(conf.redis_password !== undefined ? { password: conf.redis_password } : {}),
    tls: conf.redis_cluster_ssl === true, tlsVerify: conf.redis_cluster_ssl_verify === true, timeoutMs,
  };
}

/** What a prepared limit instance keeps of its policy. */
export interface PolicyCounters {
  policy: LimitPolicy;
  target: RedisTarget | undefined;
  /** The instance's Redis store, created by its first request (the primary only validates configs). */
  redis: RedisCounterStore | undefined;
}

export function policyCounters(conf: RedisPolicyConf, extra: readonly string[] = []): PolicyCounters {
  return { policy: conf.policy ?? 'local', target: redisTarget(conf, extra), redis: undefined };
}

/** The store an instance counts in: the process's for `local`, its own Redis store otherwise. */
export function storeOf(c: PolicyCounters): CounterStore {
  if (c.target === undefined) return counterStore();
  return c.redis ??= new RedisCounterStore(c.target);
}

const redisErrors = counter('gatehouse_limit_redis_errors_total',
  'Operations of limit plugins on Redis that failed or timed out (the request passed with allow_degradation, else got 500)',
  ['plugin', 'policy']);

/** One log line per plugin and policy at most this often. */
export const FAILURE_LOG_INTERVAL_MS = 5_000;
const lastLogged = new Map<string, { at: number; failures: number }>();

/**
 * A counter operation failed: logs it (rate-limited), counts it (redis policies), and
 * answers as APISIX: nothing (the request passes) with `allow_degradation`, else
 * `failure` (limit-count's 500 `failed to limit count`, the others' bare 500).
 */
export function counterFailure(plugin: string, c: PolicyCounters, degrade: boolean, ctx: PluginContext, err: unknown,
  failure: PhaseResult): PhaseResult | undefined {
  if (c.policy !== 'local') redisErrors.inc({ plugin, policy: c.policy });
  const key = `${plugin}\u0000${c.policy}`;
  const now = performance.now();
  let seen = lastLogged.get(key);
  if (seen === undefined) lastLogged.set(key, (seen = { at: -Infinity, failures: 0 }));
  seen.failures++;
  if (now - seen.at >= FAILURE_LOG_INTERVAL_MS) {
    const message = err instanceof Error ? err.message : String(err);
    // `what` as APISIX words it: "failed to limit count", "failed to limit req", …
    const what = `failed to ${plugin.replace('-', ' ')}`;
    ctx.log.error({ plugin, policy: c.policy, failures: seen.failures, allow_degradation: degrade, route_id: ctx.routeId },
      `${what}: ${message}`);
    seen.at = now;
    seen.failures = 0;
  }
  return degrade ? undefined : failure;
}

/**
 * The config version that goes into counter keys (limits.ts confVersion) without
 * `redis_password`: the keys are stored in Redis, and even a short hash of the password
 * has no business there (changing it keeps the counters, as it should).
 */
export function counterVersion(conf: object): string {
  const { redis_password: _secret, ...rest } = conf as RedisPolicyConf;
  return confVersion(rest);
}
