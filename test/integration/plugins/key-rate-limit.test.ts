import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get, type SimpleResponse } from '../../helpers/http.js';
import { withPluginRoutes } from '../../helpers/plugin-admin.js';
import { logEntry, metricValue } from '../../helpers/observe.js';

// key-rate-limit on a gateway with two workers: the per-key counters are the node's, so
// a listed key's quota holds across both workers; unlisted values pass uncounted.

/** Every response says which worker answered it. */
const PID = { 'serverless-post-function': { phase: 'header_filter', functions: ["(conf, ctx) => { ctx.response.setHeader('x-worker-pid', String(ctx.var.pid)) }"] } };
const LOG = { 'file-logger': { path: 'krl.log', log_format: { uri: '$request_uri', status: '$status', key: '$key_rate_limit_key' } } };

let gw: Gateway;
let up: TestUpstream;

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    routes: [
      { id: 'by-header', uri: '/by-header', upstream, plugins: { ...PID, ...LOG, 'key-rate-limit': {
        limit_by_header: 'X-Api-Key',
        limit_keys: [{ key: 'k-1', query_per_minute: 3 }, { key: 'k-2', query_per_hour: 1 }],
      } } },
      { id: 'by-param', uri: '/by-param', upstream, plugins: { 'key-rate-limit': {
        limit_by_param: 'apikey', limit_keys: [{ key: 'p-1', query_per_day: 2 }],
      } } },
    ],
  }), { workers: 2 }));
});

after(() => stopWithUpstream(gw, up));

/** A request on a connection of its own (so consecutive requests go to alternating workers). */
const fresh = (path: string, headers: Record<string, string> = {}): Promise<SimpleResponse> =>
  get(gw.url + path, { headers: { connection: 'close', ...headers } });

test('a listed key gets its quota across both workers, then Higress\'s 429 "rate_limited" without quota headers', async () => {
  const responses: SimpleResponse[] = [];
  for (let i = 0; i < 6; i++) responses.push(await fresh('/by-header', { 'x-api-key': 'k-1' }));
  assert.deepEqual(responses.map((r) => r.status), [200, 200, 200, 429, 429, 429]);
  assert.equal(new Set(responses.map((r) => r.headers['x-worker-pid'])).size, 2, 'both workers answered');
  assert.equal(responses[3]!.body, 'rate_limited');
  assert.equal(responses[3]!.headers['x-ratelimit-limit'], undefined);
  assert.equal(responses[3]!.headers['x-ratelimit-remaining'], undefined);
});

test('each listed key has its own bucket; unlisted values and requests without the header pass', async () => {
  assert.equal((await fresh('/by-header', { 'x-api-key': 'k-2' })).status, 200);
  assert.equal((await fresh('/by-header', { 'x-api-key': 'k-2' })).status, 429);
  for (let i = 0; i < 8; i++) {
    assert.equal((await fresh('/by-header', { 'x-api-key': 'someone-else' })).status, 200);
    assert.equal((await fresh('/by-header')).status, 200);
  }
});

test('limit_by_param: the query parameter as sent is the key', async () => {
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) statuses.push((await fresh(`/by-param?x=1&apikey=p-1&i=${i}`)).status);
  assert.deepEqual(statuses, [200, 200, 429, 429]);
  assert.equal((await fresh('/by-param?apikey=p-2')).status, 200);
  assert.equal((await fresh('/by-param')).status, 200);
});

test('log field $key_rate_limit_key and the refusals counted by route', async () => {
  const before = await metricValue(gw, 'gatehouse_key_rate_limit_rejected_total{route="by-header"}');
  assert.equal((await fresh('/by-header?log=refused', { 'x-api-key': 'k-1' })).status, 429);
  await fresh('/by-header?log=unlisted', { 'x-api-key': 'nobody' });
  const log = join(gw.dir, 'data', 'logs', 'krl.log');
  const refused = await logEntry(log, 'uri', '/by-header?log=refused');
  assert.equal(refused.key, 'k-1');
  assert.equal(refused.status, 429);
  assert.equal((await logEntry(log, 'uri', '/by-header?log=unlisted')).key, null);
  // the refusal was counted by the worker that answered; the export adds up the workers
  assert.equal(await metricValue(gw, 'gatehouse_key_rate_limit_rejected_total{route="by-header"}'), before + 1);
  assert.ok(await metricValue(gw, 'gatehouse_plugin_responses_total{plugin="key-rate-limit",route="by-header",code="429"}') >= 1);
});

test('bad config is refused with a 400 naming the field', async () => {
  await withPluginRoutes('key-rate-limit', async (put) => {
    for (const [conf, field] of [
      [{ limit_keys: [{ key: 'a', query_per_second: 1 }] }, 'limit_by_header'],
      [{ limit_by_header: 'x', limit_by_param: 'y', limit_keys: [{ key: 'a', query_per_second: 1 }] }, 'limit_by_param'],
      [{ limit_by_header: 'x' }, 'limit_keys'],
      [{ limit_by_header: 'x', limit_keys: [] }, 'limit_keys'],
      [{ limit_by_header: 'x', limit_keys: [{ key: 'a' }] }, 'limit_keys\\[0\\]'],
      [{ limit_by_header: 'x', limit_keys: [{ key: 'a', query_per_second: 0 }] }, 'limit_keys\\[0\\]'],
      [{ limit_by_header: 'x', limit_keys: [{ key: 'a', query_per_week: 1 }] }, 'query_per_week'],
      [{ limit_by_header: 'x', limit_keys: [{ query_per_second: 1 }] }, 'key'],
      [{ limit_by_header: 'x y', limit_keys: [{ key: 'a', query_per_second: 1 }] }, 'limit_by_header'],
    ] as const) {
      const r = await put(conf);
      assert.equal(r.status, 400, `${JSON.stringify(conf)}: ${r.text}`);
      assert.match(r.body.error_msg, new RegExp(field), JSON.stringify(conf));
    }
    assert.equal((await put({ limit_by_param: 'k', limit_keys: [{ key: 'a', query_per_minute: 5 }] })).status, 201);
  });
});
