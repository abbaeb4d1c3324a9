import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startGateway, startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get, type SimpleResponse } from '../../helpers/http.js';
import { withPluginRoutes } from '../../helpers/plugin-admin.js';
import { logEntry, metricValue } from '../../helpers/observe.js';

// cluster-key-rate-limit without `redis`, on a gateway with two workers: the node's
// counters, shared by both workers. Every kind of rule item, its refusal and quota headers.
// (Redis, shared by two nodes: cluster-key-rate-limit-redis.test.ts.)

const PID = { 'serverless-post-function': { phase: 'header_filter', functions: ["(conf, ctx) => { ctx.response.setHeader('x-worker-pid', String(ctx.var.pid)) }"] } };
const LOG = { 'file-logger': { path: 'ckrl.log', log_format: { uri: '$request_uri', status: '$status', counter: '$cluster_key_rate_limit_key' } } };

let gw: Gateway;
let up: TestUpstream;

const limit = (conf: Record<string, unknown>): Record<string, unknown> => ({ 'cluster-key-rate-limit': conf });

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => {
    const route = (id: string, plugins: Record<string, unknown>) => ({ id, uri: `/${id}`, upstream, plugins: { ...PID, ...LOG, ...plugins } });
    return {
      consumers: [{ username: 'jack', plugins: { 'key-auth': { key: 'jack-key' } } }, { username: 'jill', plugins: { 'key-auth': { key: 'jill-key' } } }],
      routes: [
        route('header', limit({
          rule_name: 'header', show_limit_quota_header: true,
          rule_items: [
            { limit_by_header: 'x-ca-key', limit_keys: [{ key: 'vip', query_per_minute: 4 }] },
            { limit_by_per_header: 'x-ca-key', limit_keys: [{ key: 'regexp:^a', query_per_minute: 2 }, { key: '*', query_per_hour: 1 }] },
          ],
        })),
        route('global', limit({ rule_name: 'global', global_threshold: { query_per_minute: 3 }, rejected_code: 503, rejected_msg: 'busy' })),
        route('cookie', limit({ rule_name: 'cookie', rule_items: [{ limit_by_per_cookie: 'uid', limit_keys: [{ key: '*', query_per_day: 1 }] }] })),
        route('param', limit({ rule_name: 'param', rule_items: [{ limit_by_param: 'apikey', limit_keys: [{ key: 'a b', query_per_second: 1 }] }] })),
        route('ip', limit({ rule_name: 'ip', rule_items: [
          { limit_by_per_ip: 'from-header-x-real', limit_keys: [{ key: '10.0.0.0/8', query_per_minute: 1 }, { key: '2001:db8::/32', query_per_minute: 2 }] },
        ] })),
        route('consumer', { 'key-auth': {}, ...limit({ rule_name: 'consumer', rule_items: [
          { limit_by_consumer: '', limit_keys: [{ key: 'jack', query_per_minute: 1 }] },
          { limit_by_per_consumer: '', limit_keys: [{ key: '*', query_per_minute: 2 }] },
        ] }) }),
      ],
    };
  }, { workers: 2 }));
});

after(() => stopWithUpstream(gw, up));

const fresh = (path: string, headers: Record<string, string> = {}): Promise<SimpleResponse> =>
  get(gw.url + path, { headers: { connection: 'close', ...headers } });

async function statuses(n: number, path: string, headers: Record<string, string> = {}): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await fresh(path, headers)).status);
  return out;
}

test('a listed header value across both workers: quota headers, then 429 "Too many requests" with X-RateLimit-Reset', async () => {
  const responses: SimpleResponse[] = [];
  for (let i = 0; i < 6; i++) responses.push(await fresh('/header', { 'x-ca-key': 'vip' }));
  assert.deepEqual(responses.map((r) => r.status), [200, 200, 200, 200, 429, 429]);
  assert.equal(new Set(responses.map((r) => r.headers['x-worker-pid'])).size, 2, 'both workers answered');
  assert.deepEqual(responses.slice(0, 4).map((r) => r.headers['x-ratelimit-remaining']), ['3', '2', '1', '0']);
  assert.equal(responses[0]!.headers['x-ratelimit-limit'], '4');
  const refused = responses[4]!;
  assert.equal(refused.body, 'Too many requests');
  assert.equal(refused.headers['x-ratelimit-limit'], '4');
  assert.equal(refused.headers['x-ratelimit-remaining'], '0');
  const reset = Number(refused.headers['x-ratelimit-reset']);
  assert.ok(reset > 0 && reset <= 60, `reset ${reset}`);
});

test('per-header: each value its own bucket, regexp keys before the "*" fallback; no header passes', async () => {
  assert.deepEqual(await statuses(3, '/header', { 'x-ca-key': 'abc' }), [200, 200, 429]);
  assert.deepEqual(await statuses(3, '/header', { 'x-ca-key': 'axe' }), [200, 200, 429]);
  assert.deepEqual(await statuses(2, '/header', { 'x-ca-key': 'bob' }), [200, 429]);
  assert.deepEqual(await statuses(2, '/header', { 'x-ca-key': 'ben' }), [200, 429]);
  assert.deepEqual(await statuses(5, '/header'), [200, 200, 200, 200, 200]);
});

test('global_threshold: one counter for the rule, rejected_code and rejected_msg; no quota headers unless asked', async () => {
  const responses: SimpleResponse[] = [];
  for (let i = 0; i < 4; i++) responses.push(await fresh(`/global?i=${i}`));
  assert.deepEqual(responses.map((r) => r.status), [200, 200, 200, 503]);
  assert.equal(responses[3]!.body, 'busy');
  assert.equal(responses[0]!.headers['x-ratelimit-limit'], undefined);
  assert.equal(responses[3]!.headers['x-ratelimit-limit'], undefined);
  assert.ok(Number(responses[3]!.headers['x-ratelimit-reset']) > 0);
});

test('per-cookie, exact (decoded) param, per-ip with CIDRs from a header', async () => {
  assert.deepEqual(await statuses(2, '/cookie', { cookie: 'a=1; uid=u1' }), [200, 429]);
  assert.deepEqual(await statuses(2, '/cookie', { cookie: 'uid=u2' }), [200, 429]);
  assert.deepEqual(await statuses(2, '/cookie', { cookie: 'other=u1' }), [200, 200]);
  assert.deepEqual(await statuses(2, '/param?apikey=a%20b'), [200, 429]);
  assert.deepEqual(await statuses(2, '/param?apikey=ab'), [200, 200]);
  assert.deepEqual(await statuses(2, '/ip', { 'x-real': '10.1.2.3, 192.0.2.1' }), [200, 429]);
  assert.deepEqual(await statuses(2, '/ip', { 'x-real': '10.1.2.4' }), [200, 429], 'each address its own counter');
  assert.deepEqual(await statuses(3, '/ip', { 'x-real': '2001:DB8:0:0::1' }), [200, 200, 429]);
  assert.deepEqual(await statuses(2, '/ip', { 'x-real': '192.0.2.1' }), [200, 200], 'outside the CIDRs');
});

test('consumers: the identified consumer, exact and per-consumer', async () => {
  assert.deepEqual(await statuses(2, '/consumer', { apikey: 'jack-key' }), [200, 429]);
  assert.deepEqual(await statuses(3, '/consumer', { apikey: 'jill-key' }), [200, 200, 429]);
});

test('log field $cluster_key_rate_limit_key (Higress\'s key layout) and the refusals counted by route', async () => {
  const before = await metricValue(gw, 'gatehouse_cluster_key_rate_limit_rejected_total{route="cookie"}');
  await fresh('/cookie?log=1', { cookie: 'uid=logged' });
  await fresh('/cookie?log=2', { cookie: 'uid=logged' });
  await fresh('/cookie?log=3');
  const log = join(gw.dir, 'data', 'logs', 'ckrl.log');
  assert.equal((await logEntry(log, 'uri', '/cookie?log=2')).counter, 'higress-cluster-key-rate-limit:cookie:limit_by_per_cookie:86400:uid:logged');
  assert.equal((await logEntry(log, 'uri', '/cookie?log=3')).counter, null);
  assert.equal(await metricValue(gw, 'gatehouse_cluster_key_rate_limit_rejected_total{route="cookie"}'), before + 1);
});

test('bad config is refused with a 400 naming the field', async () => {
  const keys = [{ key: 'a', query_per_second: 1 }];
  await withPluginRoutes('cluster-key-rate-limit', async (put) => {
    for (const [conf, field] of [
      [{ global_threshold: { query_per_second: 1 } }, 'rule_name'],
      [{ rule_name: 'r' }, 'global_threshold'],
      [{ rule_name: 'r', global_threshold: { query_per_second: 1 }, rule_items: [{ limit_by_header: 'x', limit_keys: keys }] }, 'rule_items'],
      [{ rule_name: 'r', global_threshold: {} }, 'global_threshold'],
      [{ rule_name: 'r', rule_items: [{ limit_keys: keys }] }, 'rule_items\\[0\\]'],
      [{ rule_name: 'r', rule_items: [{ limit_by_header: 'x', limit_by_param: 'y', limit_keys: keys }] }, 'rule_items\\[0\\]'],
      [{ rule_name: 'r', rule_items: [{ limit_by_per_header: 'x', limit_keys: keys }] }, 'rule_items\\[0\\].limit_keys\\[0\\].key'],
      [{ rule_name: 'r', rule_items: [{ limit_by_per_header: 'x', limit_keys: [{ key: 'regexp:(', query_per_second: 1 }] }] }, 'rule_items\\[0\\].limit_keys\\[0\\].key'],
      [{ rule_name: 'r', rule_items: [{ limit_by_per_ip: 'from-remote-addr', limit_keys: [{ key: '10.0.0.0/33', query_per_second: 1 }] }] }, 'limit_keys\\[0\\].key'],
      [{ rule_name: 'r', rule_items: [{ limit_by_per_ip: 'from-somewhere', limit_keys: keys }] }, 'limit_by_per_ip'],
      [{ rule_name: 'r', rule_items: [{ limit_by_header: 'x', limit_keys: [{ key: 'a' }] }] }, 'rule_items\\[0\\].limit_keys\\[0\\]'],
      [{ rule_name: 'r', global_threshold: { query_per_second: 1 }, redis: {} }, 'service_name'],
      [{ rule_name: 'r', global_threshold: { query_per_second: 1 }, redis: { service_name: 'redis.static' } }, 'redis.service_name'],
      [{ rule_name: 'r', global_threshold: { query_per_second: 1 }, redis: { service_name: 'h', timeout: 0 } }, 'timeout'],
      [{ rule_name: 'r', global_threshold: { query_per_second: 1 }, redis: { service_name: 'h', ssl: true } }, 'ssl'],
      [{ rule_name: 'r', global_threshold: { query_per_second: 1 }, rejected_code: 99 }, 'rejected_code'],
    ] as const) {
      const r = await put(conf);
      assert.equal(r.status, 400, `${JSON.stringify(conf)}: ${r.text}`);
      assert.match(r.body.error_msg, new RegExp(field), JSON.stringify(conf));
    }
    assert.equal((await put({ rule_name: 'r', global_threshold: { query_per_hour: 5 }, redis: { service_name: '127.0.0.1' } })).status, 201);
  });
});

test('redis.password is masked for Admin API viewers, kept in clear for admins, never logged', async () => {
  const adminKeys = [{ name: 'a', key: 'ckrl-admin-key-0001', role: 'admin' as const }, { name: 'v', key: 'ckrl-viewer-key-001', role: 'viewer' as const }];
  const writable = await startGateway({ store: 'sqlite', adminKeys });
  const read = (key: string) => get(writable.adminUrl + '/routes/pw', { headers: { 'X-API-KEY': key } });
  try {
    const created = await get(writable.adminUrl + '/routes/pw', {
      method: 'PUT', headers: { 'X-API-KEY': 'ckrl-admin-key-0001', 'content-type': 'application/json' },
      body: JSON.stringify({ uri: '/pw', upstream: { nodes: { '127.0.0.1:1': 1 } }, plugins: { 'cluster-key-rate-limit': {
        rule_name: 'pw', global_threshold: { query_per_second: 1 }, redis: { service_name: '127.0.0.1', password: 'ckrl-pw-in-clear' },
      } } }),
    });
    assert.ok(created.status < 300, created.body);
    const viewer = await read('ckrl-viewer-key-001');
    assert.equal(viewer.status, 200);
    assert.equal(viewer.json().value.plugins['cluster-key-rate-limit'].redis.password, '******');
    assert.match((await read('ckrl-admin-key-0001')).body, /ckrl-pw-in-clear/);
    assert.doesNotMatch(writable.output(), /ckrl-pw-in-clear/);
  } finally {
    await writable.stop();
  }
});
