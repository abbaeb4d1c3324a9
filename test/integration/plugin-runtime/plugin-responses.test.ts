import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { logEntry, metricValue } from '../../helpers/observe.js';

// Who answered a request the upstream never saw: the runner records the plugin whose
// decision (or failure) became the response, for access logs ($plugin_responded) and in
// gatehouse_plugin_responses_total{plugin, route, code}, whatever the plugin.

let gw: Gateway;
let up: TestUpstream;

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    consumers: [{ username: 'jack', plugins: { 'key-auth': { key: 'k-jack' } } }],
    global_rules: [{ id: 'g', plugins: {
      'file-logger': { path: 'access.log', log_format: { uri: '$request_uri', status: '$status', by: '$plugin_responded' } },
    } }],
    routes: [
      { id: 'guarded', uri: '/guarded', upstream, plugins: {
        'key-auth': {}, 'request-block': { block_urls: ['forbidden'] },
      } },
      { id: 'limited', uri: '/limited', upstream, plugins: { 'limit-count': { count: 1, time_window: 60, rejected_code: 429 } } },
    ],
  }), { extra: { log_dir: '.' } }));
});

after(() => stopWithUpstream(gw, up));

const series = (plugin: string, route: string, code: number): string =>
  `gatehouse_plugin_responses_total{plugin="${plugin}",route="${route}",code="${code}"}`;

test('a refusal names its plugin in the access log and is counted by plugin, route and code', async () => {
  assert.equal((await get(gw.url + '/guarded?n=1')).status, 401);
  assert.equal((await get(gw.url + '/guarded?n=2')).status, 401);
  assert.equal((await get(gw.url + '/guarded?forbidden', { headers: { apikey: 'k-jack' } })).status, 403);
  assert.equal((await get(gw.url + '/limited?n=1')).status, 200);
  assert.equal((await get(gw.url + '/limited?n=2')).status, 429);

  assert.equal((await logEntry(join(gw.dir, 'access.log'), 'uri', '/guarded?n=2')).by, 'key-auth');
  assert.equal((await logEntry(join(gw.dir, 'access.log'), 'uri', '/guarded?forbidden')).by, 'request-block');
  assert.equal((await logEntry(join(gw.dir, 'access.log'), 'uri', '/limited?n=2')).by, 'limit-count');

  assert.equal(await metricValue(gw, series('key-auth', 'guarded', 401)), 2);
  assert.equal(await metricValue(gw, series('request-block', 'guarded', 403)), 1);
  assert.equal(await metricValue(gw, series('limit-count', 'limited', 429)), 1);
});

test('a request the upstream answered has no responding plugin and is not counted', async () => {
  const r = await get(gw.url + '/guarded?n=ok', { headers: { apikey: 'k-jack' } });
  assert.equal(r.status, 200);
  const entry = await logEntry(join(gw.dir, 'access.log'), 'uri', '/guarded?n=ok');
  assert.equal(entry.by, null);
  assert.equal(entry.status, 200);
  assert.equal(await metricValue(gw, series('key-auth', 'guarded', 200)), 0);
});

test('an unmatched request is answered by the gateway, not by a plugin', async () => {
  assert.equal((await get(gw.url + '/nowhere')).status, 404);
  assert.equal((await logEntry(join(gw.dir, 'access.log'), 'uri', '/nowhere')).by, null);
});
