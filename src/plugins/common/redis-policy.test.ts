import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { PluginContext } from '../../contracts/plugin.js';
import { PluginRegistry } from '../../plugin-runtime/registry.js';
import { redactPluginSecrets, REDACTED } from '../../plugin-runtime/secret-fields.js';
import { metricsRegistry } from '../../observability/metrics.js';
import { prepareWith } from '../../../test/helpers/plugin-context.js';
import limitCount from '../limit-count.js';
import limitConn from '../limit-conn.js';
import { counterFailure, counterVersion, FAILURE_LOG_INTERVAL_MS, policyCounters, redisTarget } from './redis-policy.js';

// The redis policies of limit-count, limit-req and limit-conn as APISIX 3.x defines them
// (apisix/utils/redis-schema.lua): each bad or missing field refused with its name.

const BASE: Record<string, Record<string, unknown>> = {
  'limit-count': { count: 1, time_window: 60 },
  'limit-req': { rate: 1, burst: 0, key: 'remote_addr' },
  'limit-conn': { conn: 1, burst: 0, default_conn_delay: 0.1, key: 'remote_addr' },
};
const NODES = ['127.0.0.1:7001', '127.0.0.1:7002'];

const registry = PluginRegistry.load({ whitelist: Object.keys(BASE) });

/** Validates (filling defaults) and prepares as an Admin write does; the error message, or the filled config. */
async function check(name: string, fields: Record<string, unknown>): Promise<string | Record<string, unknown>> {
  const conf = { ...structuredClone(BASE[name]!), ...fields };
  try {
    (await registry).checkInstance(name, conf);
    return conf;
  } catch (e) {
    return (e as Error).message;
  }
}

const refusal = async (name: string, fields: Record<string, unknown>): Promise<string> => {
  const r = await check(name, fields);
  assert.equal(typeof r, 'string', `${name} accepted ${JSON.stringify(fields)}`);
  return r as string;
};

for (const name of Object.keys(BASE)) {
  test(`${name}: policy redis takes APISIX's fields and defaults; redis_host is required`, async () => {
    assert.match(await refusal(name, { policy: 'redis' }), /property "redis_host" is required/);
    const conf = await check(name, { policy: 'redis', redis_host: '127.0.0.1' });
    assert.deepEqual(conf, {
      ...BASE[name], ...(conf as Record<string, unknown>), policy: 'redis', redis_host: '127.0.0.1',
      redis_port: 6379, redis_database: 0, redis_timeout: 1000, redis_ssl: false, redis_ssl_verify: false,
    });
    const full = {
      policy: 'redis', redis_host: 'redis.internal', redis_port: 6380, redis_username: 'gw', redis_password: 'pw',
      redis_database: 2, redis_timeout: 250, redis_ssl: true, redis_ssl_verify: true,
    };
    assert.equal(typeof await check(name, full), 'object');
  });

  test(`${name}: policy redis-cluster requires redis_cluster_nodes and redis_cluster_name`, async () => {
    assert.match(await refusal(name, { policy: 'redis-cluster', redis_cluster_name: 'c' }), /property "redis_cluster_nodes" is required/);
    assert.match(await refusal(name, { policy: 'redis-cluster', redis_cluster_nodes: NODES }), /property "redis_cluster_name" is required/);
    assert.match(await refusal(name, { policy: 'redis-cluster', redis_cluster_nodes: [], redis_cluster_name: 'c' }),
      /property "redis_cluster_nodes" validation failed: expect array to have at least 1 items/);
    assert.match(await refusal(name, { policy: 'redis-cluster', redis_cluster_nodes: ['127.0.0.1'], redis_cluster_name: 'c' }),
      /redis_cluster_nodes: "127.0.0.1" is not host:port/);
    const conf = await check(name, { policy: 'redis-cluster', redis_cluster_nodes: NODES, redis_cluster_name: 'c', redis_password: '' });
    assert.equal(typeof conf, 'object', String(conf));
    const c = conf as Record<string, unknown>;
    assert.deepEqual([c.redis_timeout, c.redis_cluster_ssl, c.redis_cluster_ssl_verify], [1000, false, false]);
  });

  test(`${name}: a redis field of another policy is refused naming it`, async () => {
    assert.match(await refusal(name, { redis_host: '127.0.0.1' }),
      /redis_host is not a field of policy "local" \(it belongs to policy "redis"\)/);
    assert.match(await refusal(name, { policy: 'redis', redis_host: '127.0.0.1', redis_cluster_nodes: NODES }),
      /redis_cluster_nodes is not a field of policy "redis" \(it belongs to policy "redis-cluster"\)/);
    assert.match(await refusal(name, { policy: 'redis-cluster', redis_cluster_nodes: NODES, redis_cluster_name: 'c', redis_database: 1 }),
      /redis_database is not a field of policy "redis-cluster"/);
    assert.match(await refusal(name, { redis_password: 'pw' }),
      /redis_password is not a field of policy "local" \(it belongs to policy "redis" and "redis-cluster"\)/);
  });

  test(`${name}: wrong types and bounds name the field`, async () => {
    const redis = { policy: 'redis', redis_host: '127.0.0.1' };
    assert.match(await refusal(name, { ...redis, redis_port: '6379' }), /property "redis_port" validation failed: wrong type: expected integer/);
    assert.match(await refusal(name, { ...redis, redis_port: 0 }), /property "redis_port" validation failed/);
    assert.match(await refusal(name, { ...redis, redis_timeout: 0 }), /property "redis_timeout" validation failed/);
    assert.match(await refusal(name, { ...redis, redis_database: -1 }), /property "redis_database" validation failed/);
    assert.match(await refusal(name, { ...redis, redis_host: 'x' }), /property "redis_host" validation failed: string too short/);
    assert.match(await refusal(name, { ...redis, redis_username: '' }), /property "redis_username" validation failed/);
    assert.match(await refusal(name, { ...redis, redis_ssl: 'yes' }), /property "redis_ssl" validation failed/);
  });

  test(`${name}: redis_password is masked for viewers on Admin reads`, async () => {
    const plugin = (await registry).get(name)!.plugin;
    const conf = { ...BASE[name], policy: 'redis', redis_host: '127.0.0.1', redis_password: 's3cret' };
    const masked = redactPluginSecrets({ [name]: conf }, () => plugin, 'default')[name] as Record<string, unknown>;
    assert.equal(masked.redis_password, REDACTED);
    assert.equal(masked.redis_host, '127.0.0.1');
  });
}

test('limit-conn: key_ttl (APISIX, default 3600 s) belongs to the redis policies only', async () => {
  const conf = await check('limit-conn', { policy: 'redis', redis_host: '127.0.0.1' }) as Record<string, unknown>;
  assert.equal(conf.key_ttl, 3600);
  assert.equal(prepareWith(limitConn, { ...BASE['limit-conn'], policy: 'redis', redis_host: 'h1', key_ttl: 60 }).slotTtlMs, 60_000);
  assert.match(await refusal('limit-conn', { key_ttl: 60 }),
    /key_ttl is not a field of policy "local" \(it belongs to policy "redis" and "redis-cluster"\)/);
  assert.match(await refusal('limit-conn', { policy: 'redis', redis_host: '127.0.0.1', key_ttl: 0 }), /property "key_ttl" validation failed/);
  assert.match(await refusal('limit-count', { policy: 'redis', redis_host: '127.0.0.1', key_ttl: 60 }),
    /additional properties forbidden, found key_ttl/);
});

test('the target of each policy, and the local policy has none', () => {
  assert.equal(redisTarget({}), undefined);
  assert.deepEqual(redisTarget({
    policy: 'redis', redis_host: 'h1', redis_port: 6380, redis_username: 'u', redis_password: 'p', redis_database: 3,
    redis_timeout: 200, redis_ssl: true, redis_ssl_verify: false,
  }), { policy: 'redis', host: 'h1', port: 6380, username: 'u', password: 'p', database: 3, tls: true, tlsVerify: false, timeoutMs: 200 });
  assert.deepEqual(redisTarget({
    policy: 'redis-cluster', redis_cluster_nodes: ['10.0.0.1:7000', '[::1]:7001'], redis_cluster_name: 'prod', redis_timeout: 300,
    redis_cluster_ssl: true, redis_cluster_ssl_verify: true,
  }), {
    policy: 'redis-cluster', nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '::1', port: 7001 }], name: 'prod',
    tls: true, tlsVerify: true, timeoutMs: 300,
  });
  assert.throws(() => redisTarget({ policy: 'redis-cluster', redis_cluster_nodes: ['h:99999'], redis_cluster_name: 'c' }),
    /redis_cluster_nodes: "h:99999" is not host:port/);
});

test('the counter identity is the local policy\'s, and the password is not part of it', () => {
  const local = prepareWith(limitCount, { count: 2, time_window: 60 });
  const withPassword = { count: 2, time_window: 60, policy: 'redis', redis_host: 'h1', redis_password: 'one' };
  const a = prepareWith(limitCount, withPassword);
  const b = prepareWith(limitCount, { ...withPassword, redis_password: 'two' });
  assert.equal(a.version, b.version);
  assert.notEqual(a.version, local.version, 'another policy is another config version, as in APISIX');
  assert.equal(counterVersion({ count: 2, time_window: 60 }), counterVersion({ count: 2, time_window: 60, redis_password: 'x' }));
});

test('a failure: rate-limited log line without the password, the metric, and allow_degradation decides', () => {
  const lines: { obj: Record<string, unknown>; msg: string }[] = [];
  const log = pino({ level: 'error' }, { write: (s: string) => { const o = JSON.parse(s); lines.push({ obj: o, msg: o.msg }); } });
  const ctx = { log, routeId: 'r1' } as unknown as PluginContext;
  const counters = policyCounters({ policy: 'redis', redis_host: 'h1', redis_password: 'hunter2' });
  const failure = { status: 500 };
  const metric = async (): Promise<number> => {
    const m = await metricsRegistry.getSingleMetric('gatehouse_limit_redis_errors_total')!.get();
    return m.values.find((v) => v.labels.plugin === 'limit-req' && v.labels.policy === 'redis')?.value ?? 0;
  };
  return (async () => {
    const before = await metric();
    assert.deepEqual(counterFailure('limit-req', counters, false, ctx, new Error('connect ECONNREFUSED'), failure), failure);
    assert.equal(counterFailure('limit-req', counters, true, ctx, new Error('connect ECONNREFUSED'), failure), undefined);
    assert.equal(await metric(), before + 2);
    assert.equal(lines.length, 1, `one line per ${FAILURE_LOG_INTERVAL_MS} ms`);
    assert.equal(lines[0]!.msg, 'failed to limit req: connect ECONNREFUSED');
    assert.deepEqual([lines[0]!.obj.plugin, lines[0]!.obj.policy, lines[0]!.obj.route_id], ['limit-req', 'redis', 'r1']);
    assert.doesNotMatch(JSON.stringify(lines), /hunter2/);
    // the local policy logs too, but is not a redis error
    counterFailure('limit-req', policyCounters({}), false, ctx, new Error('ipc gone'), failure);
    assert.equal(await metric(), before + 2);
    assert.equal(lines.at(-1)!.msg, 'failed to limit req: ipc gone');
  })();
});
