import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, type Gateway, startGateways } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get, type SimpleResponse } from '../../helpers/http.js';
import { startRedis, type TestRedis } from '../../helpers/redis-server.js';
import { metricValue } from '../../helpers/observe.js';

// cluster-key-rate-limit with `redis`: two gateway nodes, each its own process with the
// same standalone config, count in one real Redis (password protected, database 2) under
// Higress's key names. With Redis stopped requests pass (Higress does), the failure is
// logged and counted; with Redis back the limits hold again.

const PASSWORD = 'ckrl-redis-s3cret';
let redis: TestRedis;
let up: TestUpstream;
let nodes: Gateway[] = [];

function routes(port: number): Record<string, unknown>[] {
  const redisConf = { service_name: '127.0.0.1', service_port: port, password: PASSWORD, database: 2, timeout: 300 };
  const upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
  return [
    { id: 'shared', uri: '/shared', upstream, plugins: { 'cluster-key-rate-limit': {
      rule_name: 'shared', show_limit_quota_header: true, redis: redisConf,
      rule_items: [{ limit_by_per_header: 'x-user', limit_keys: [{ key: '*', query_per_minute: 5 }] }],
    } } },
    { id: 'global', uri: '/global', upstream, plugins: { 'cluster-key-rate-limit': {
      rule_name: 'global', redis: redisConf, global_threshold: { query_per_hour: 3 },
    } } },
  ];
}

before(async () => {
  [redis, up] = await Promise.all([startRedis({ password: PASSWORD }), startUpstream('a')]);
  const config = { routes: routes(redis.port) };
  nodes = await startGateways(2, { config });
});

after(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  await Promise.all([redis?.close(), up?.close()]);
});

/** Request i goes to node i mod 2. */
const on = (i: number, path: string, headers: Record<string, string> = {}): Promise<SimpleResponse> =>
  get(nodes[i % 2]!.url + path, { headers });

const REDIS_ERRORS = 'gatehouse_limit_redis_errors_total{plugin="cluster-key-rate-limit",policy="redis"}';

test('one count for both nodes: exactly 5 pass per value, with the shared quota headers; Higress\'s keys in Redis', async () => {
  const responses: SimpleResponse[] = [];
  for (let i = 0; i < 8; i++) responses.push(await on(i, '/shared', { 'x-user': 'u1' }));
  assert.deepEqual(responses.map((r) => r.status), [200, 200, 200, 200, 200, 429, 429, 429]);
  assert.deepEqual(responses.slice(0, 5).map((r) => r.headers['x-ratelimit-remaining']), ['4', '3', '2', '1', '0']);
  assert.equal(responses[5]!.body, 'Too many requests');
  assert.equal(responses[5]!.headers['x-ratelimit-limit'], '5');
  const reset = Number(responses[5]!.headers['x-ratelimit-reset']);
  assert.ok(reset > 0 && reset <= 60, `reset ${reset}`);
  assert.equal((await on(0, '/shared', { 'x-user': 'u2' })).status, 200, 'another value, another counter');
  const keys = (await redis.cli('-a', PASSWORD, '--no-auth-warning', '-n', '2', 'keys', 'higress-cluster-key-rate-limit:*')).trim().split('\n').sort();
  assert.deepEqual(keys, [
    'higress-cluster-key-rate-limit:shared:limit_by_per_header:60:x-user:u1',
    'higress-cluster-key-rate-limit:shared:limit_by_per_header:60:x-user:u2',
  ]);
  // Higress's script stops counting one past the threshold
  assert.equal((await redis.cli('-a', PASSWORD, '--no-auth-warning', '-n', '2', 'get', keys[0]!)).trim(), '6');
});

test('concurrent requests on both nodes against global_threshold: exactly 3 pass', async () => {
  const statuses = (await Promise.all(Array.from({ length: 12 }, (_, i) => on(i, '/global')))).map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 200).length, 3, statuses.join(','));
  assert.equal(statuses.filter((s) => s === 429).length, 9);
});

test('Redis stopped: requests pass, logged and counted on each node; Redis back: the limits hold again', async () => {
  const before = await Promise.all(nodes.map((n) => metricValue(n, REDIS_ERRORS)));
  await redis.stop();
  try {
    for (let i = 0; i < 4; i++) {
      const r = await on(i, '/shared', { 'x-user': 'u1' });
      assert.equal(r.status, 200, 'passes while Redis is down');
      assert.equal(r.headers['x-ratelimit-limit'], undefined, 'nothing counted, no quota');
    }
    for (const [i, n] of nodes.entries()) {
      assert.ok(await metricValue(n, REDIS_ERRORS) >= before[i]! + 2, `node ${i} counted its failures`);
      await eventually(async () => {
        await on(i, '/global');
        return /failed to cluster key-rate-limit: redis/.test(n.output());
      }, 80, 100);
    }
  } finally {
    await redis.start();
  }
  for (let i = 0; i < 2; i++) {
    await eventually(async () => (await on(i, '/shared', { 'x-user': 'back' })).headers['x-ratelimit-limit'] === '5', 100, 100);
  }
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) statuses.push((await on(i, '/shared', { 'x-user': 'after' })).status);
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
});

test('the Redis password is never logged', () => {
  for (const n of nodes) assert.doesNotMatch(n.output(), new RegExp(PASSWORD));
});
