import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, type Gateway, startGateways } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get, type SimpleResponse } from '../../helpers/http.js';
import { startRedis, type TestRedis } from '../../helpers/redis-server.js';

// Cluster mode's shared limits (issue 12, item 4): three gateway nodes, each its own
// process with its own standalone config holding the same routes, count in one real
// Redis (password protected). A limit of N lets N requests through across the three;
// with Redis stopped `allow_degradation` decides (pass, or APISIX's 500), the failure is
// logged and counted; with Redis back the limits hold again; a hung Redis answers within
// `redis_timeout`.

const PASSWORD = 'gw-redis-s3cret';
let redis: TestRedis;
let up: TestUpstream;
let nodes: Gateway[] = [];

function routes(port: number): Record<string, unknown>[] {
  const redisConf = { policy: 'redis', redis_host: '127.0.0.1', redis_port: port, redis_password: PASSWORD };
  const upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
  const route = (id: string, plugins: Record<string, unknown>) => ({ id, uri: `/${id}`, upstream, plugins });
  return [
    route('count', { 'limit-count': { count: 5, time_window: 60, ...redisConf } }),
    route('race', { 'limit-count': { count: 7, time_window: 60, rejected_code: 429, ...redisConf } }),
    // on the strict and lenient routes' connection (same redis_timeout), the one the reconnect test waits for
    route('after', { 'limit-count': { count: 3, time_window: 60, redis_timeout: 300, ...redisConf } }),
    route('req', { 'limit-req': { rate: 0.1, burst: 0, key: 'remote_addr', rejected_code: 429, ...redisConf } }),
    { id: 'conn', uri: '/slow', upstream, plugins: { 'limit-conn': { conn: 1, burst: 0, default_conn_delay: 0.1, key: 'remote_addr', ...redisConf } } },
    route('strict', { 'limit-count': { count: 2, time_window: 60, allow_degradation: false, redis_timeout: 300, ...redisConf } }),
    route('lenient', { 'limit-count': { count: 2, time_window: 60, allow_degradation: true, redis_timeout: 300, ...redisConf } }),
    route('wrong-password', { 'limit-count': { count: 2, time_window: 60, ...redisConf, redis_password: 'not-the-password' } }),
  ];
}

before(async () => {
  [redis, up] = await Promise.all([startRedis({ password: PASSWORD }), startUpstream('a')]);
  const config = { routes: routes(redis.port) };
  nodes = await startGateways(3, { config });
});

after(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  await Promise.all([redis?.close(), up?.close()]);
});

/** Request i goes to node i mod 3. */
const on = (i: number, path: string): Promise<SimpleResponse> => get(nodes[i % 3]!.url + path);

async function redisErrors(gw: Gateway): Promise<number> {
  const text = (await get(gw.metricsUrl)).body;
  const m = /gatehouse_limit_redis_errors_total\{plugin="limit-count",policy="redis"\} (\d+)/.exec(text);
  return m === null ? 0 : Number(m[1]);
}

// first: a failure's log line is rate-limited (one per plugin and policy every 5 s), so the
// later tests' failures could hide this one's
test('a wrong redis_password fails the request with the error Redis gives', async () => {
  const r = await on(0, '/wrong-password');
  assert.equal(r.status, 500);
  assert.deepEqual(r.json(), { error_msg: 'failed to limit count' });
  await nodes[0]!.waitForOutput(/failed to limit count: .*(WRONGPASS|NOAUTH|invalid)/i, 0, 5_000);
});

test('count 5 shared by three nodes: exactly 5 pass in total, with the quota headers of the shared count', async () => {
  const responses: SimpleResponse[] = [];
  for (let i = 0; i < 12; i++) responses.push(await on(i, '/count'));
  assert.deepEqual(responses.map((r) => r.status), [200, 200, 200, 200, 200, 503, 503, 503, 503, 503, 503, 503]);
  assert.deepEqual(responses.map((r) => r.headers['x-ratelimit-remaining']), ['4', '3', '2', '1', '0', '0', '0', '0', '0', '0', '0', '0']);
  assert.equal(responses[0]!.headers['x-ratelimit-limit'], '5');
});

test('concurrent requests racing on three nodes: exactly count pass', async () => {
  const responses = await Promise.all(Array.from({ length: 30 }, (_, i) => on(i, '/race')));
  const statuses = responses.map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 200).length, 7, statuses.join(','));
  assert.equal(statuses.filter((s) => s === 429).length, 23);
});

test('limit-req: one bucket for the three nodes (rate 0.1, burst 0: one request in ten seconds in total)', async () => {
  const statuses = (await Promise.all(Array.from({ length: 6 }, (_, i) => on(i, '/req')))).map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 200).length, 1, statuses.join(','));
  assert.equal(statuses.filter((s) => s === 429).length, 5);
});

test('limit-conn: a slot taken on one node is taken for the others, and given back', async () => {
  const held = on(0, '/slow?ms=2000');
  // the upstream sees it once limit-conn let it through, holding the slot
  await eventually(() => up.seen.some((r) => r.url === '/slow?ms=2000'), 100, 20);
  assert.equal((await on(1, '/slow?ms=1')).status, 503);
  assert.equal((await on(2, '/slow?ms=1')).status, 503);
  assert.equal((await held).status, 200);
  // given back in the slow request's log phase
  await eventually(async () => (await on(2, '/slow?ms=1')).status === 200, 40, 50);
});

test('Redis stopped: allow_degradation passes, otherwise 500 "failed to limit count"; logged and counted on every node', async () => {
  const before = await Promise.all(nodes.map(redisErrors));
  const from = nodes.map((n) => n.output().length);
  await redis.stop();
  for (let i = 0; i < 3; i++) {
    const strict = await on(i, '/strict');
    assert.equal(strict.status, 500);
    assert.deepEqual(strict.json(), { error_msg: 'failed to limit count' });
    const lenient = await on(i, '/lenient');
    assert.equal(lenient.status, 200);
    assert.equal(lenient.headers['x-ratelimit-limit'], undefined, 'no quota when nothing was counted');
  }
  for (const [i, n] of nodes.entries()) {
    assert.ok(await redisErrors(n) >= before[i]! + 2, `node ${i} counted its failures`);
    // at most one line per 5 s: an earlier failure may have taken this interval's, so requests keep failing until it comes
    await eventually(async () => {
      await on(i, '/strict');
      return /failed to limit count: redis is unreachable|failed to limit count: redis failed/.test(n.output().slice(from[i]));
    }, 80, 100);
  }
});

test('Redis back: the limits hold again on every node', async () => {
  await redis.start();
  // each node has reconnected once its lenient route counts again (quota headers) instead of degrading
  for (let i = 0; i < 3; i++) {
    await eventually(async () => (await on(i, '/lenient')).headers['x-ratelimit-limit'] === '2', 100, 100);
  }
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await on(i, '/after')).status);
  assert.deepEqual(statuses, [200, 200, 200, 503, 503, 503]);
});

test('a hung Redis (SIGSTOP) answers within redis_timeout: 500, or 200 with allow_degradation', async () => {
  redis.pause();
  try {
    for (const [path, status] of [['/strict', 500], ['/lenient', 200]] as const) {
      const t0 = performance.now();
      const r = await on(1, path);
      const ms = performance.now() - t0;
      assert.equal(r.status, status, path);
      assert.ok(ms >= 250 && ms < 1_000, `${path} answered after ${Math.round(ms)} ms (redis_timeout 300)`);
    }
  } finally {
    redis.resume();
  }
});

test('the Redis password is never logged', () => {
  for (const n of nodes) assert.doesNotMatch(n.output(), new RegExp(PASSWORD));
});
