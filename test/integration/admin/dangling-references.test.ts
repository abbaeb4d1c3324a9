// Objects deleted with ?force=true while still referenced: the data plane answers as
// APISIX does — 503 for a route's missing plugin config or a consumer's missing group,
// 404 for a route's missing service — instead of serving without them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { get } from '../../helpers/http.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { adminClient, type AdminCall } from './client.js';

let gw: Gateway;
let up: TestUpstream;
let call: AdminCall;
let upstream: { nodes: Record<string, number> };

before(async () => {
  up = await startUpstream('a');
  upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
  gw = await startGateway({ store: 'sqlite' });
  call = adminClient(gw);
});
after(async () => {
  await gw?.stop();
  await up?.close();
});

async function put(path: string, body: unknown): Promise<void> {
  const r = await call('PUT', path, body);
  assert.ok(r.status === 200 || r.status === 201, `${path}: ${r.text}`);
}

async function statusBecomes(path: string, status: number, headers: Record<string, string> = {}): Promise<void> {
  let last = 0;
  await eventually(async () => {
    last = (await get(`${gw.url}${path}`, { headers })).status;
    return last === status;
  }).catch(() => assert.fail(`${path}: expected ${status}, last answer ${last}`));
}

test('a route whose plugin config was force-deleted answers 503', async () => {
  await put('/plugin_configs/pc1', { plugins: { 'request-id': {} } });
  await put('/routes/pc', { uri: '/pc', plugin_config_id: 'pc1', upstream });
  await statusBecomes('/pc', 200);
  assert.equal((await call('DELETE', '/plugin_configs/pc1')).status, 400, 'still in use without force');
  assert.equal((await call('DELETE', '/plugin_configs/pc1?force=true')).status, 200);
  await statusBecomes('/pc', 503);
  const r = await get(`${gw.url}/pc`);
  assert.equal(JSON.parse(r.body).error_msg, 'plugin config not found');
  // recreating it serves the route again
  await put('/plugin_configs/pc1', { plugins: { 'request-id': {} } });
  await statusBecomes('/pc', 200);
});

test("a consumer whose group was force-deleted gets 503 once authenticated; others are unaffected", async () => {
  await put('/consumer_groups/g1', { plugins: { 'response-rewrite': { headers: { set: { 'x-group': 'g1' } } } } });
  await put('/consumers', { username: 'grouped', group_id: 'g1', plugins: { 'key-auth': { key: 'grouped-key' } } });
  await put('/consumers', { username: 'loner', plugins: { 'key-auth': { key: 'loner-key' } } });
  await put('/routes/cg', { uri: '/cg', plugins: { 'key-auth': {} }, upstream });
  await statusBecomes('/cg', 200, { apikey: 'grouped-key' });
  assert.equal((await get(`${gw.url}/cg`, { headers: { apikey: 'grouped-key' } })).headers['x-group'], 'g1');
  assert.equal((await call('DELETE', '/consumer_groups/g1?force=true')).status, 200);
  await statusBecomes('/cg', 503, { apikey: 'grouped-key' });
  assert.equal((await get(`${gw.url}/cg`, { headers: { apikey: 'loner-key' } })).status, 200);
  assert.equal((await get(`${gw.url}/cg`)).status, 401);
});

test('a route whose service was force-deleted answers 404 without running its plugins', async () => {
  await put('/services/s1', { upstream });
  await put('/routes/svc', { uri: '/svc', service_id: 's1', plugins: { 'key-auth': {} } });
  await put('/consumers', { username: 'svcuser', plugins: { 'key-auth': { key: 'svc-key' } } });
  await statusBecomes('/svc', 200, { apikey: 'svc-key' });
  assert.equal((await call('DELETE', '/services/s1?force=true')).status, 200);
  await statusBecomes('/svc', 404, { apikey: 'svc-key' });
  // not 401: the missing service is reported before the route's auth plugin runs, as APISIX
  assert.equal((await get(`${gw.url}/svc`)).status, 404);
});
