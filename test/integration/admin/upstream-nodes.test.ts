// Upstream `nodes` in either APISIX form are stored as written and served alike.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { get } from '../../helpers/http.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { adminClient, type AdminCall } from './client.js';

let gw: Gateway;
let up: TestUpstream;
let call: AdminCall;

before(async () => {
  up = await startUpstream('a');
  gw = await startGateway({ store: 'sqlite' });
  call = adminClient(gw);
});
after(async () => {
  await gw?.stop();
  await up?.close();
});

test('a route proxies through a nodes map, then through the array form after a sub-path PATCH', async () => {
  const map = { [`127.0.0.1:${up.port}`]: 1 };
  assert.equal((await call('PUT', '/upstreams/forms', { nodes: map })).status, 201);
  assert.equal((await call('PUT', '/routes/forms', { uri: '/forms', upstream_id: 'forms' })).status, 201);
  await eventually(async () => (await get(`${gw.url}/forms`)).status === 200);
  assert.deepEqual((await call('GET', '/upstreams/forms')).body.value.nodes, map);

  const array = [{ host: '127.0.0.1', port: up.port, weight: 1 }];
  const patched = await call('PATCH', '/upstreams/forms/nodes', array);
  assert.equal(patched.status, 200, patched.text);
  assert.deepEqual(patched.body.value.nodes, [{ ...array[0], priority: 0 }]);
  const before = up.seen.length;
  await eventually(async () => (await get(`${gw.url}/forms`)).status === 200 && up.seen.length > before);

  // and back to a map that names a port nobody listens on: the data plane follows it
  assert.equal((await call('PATCH', '/upstreams/forms/nodes', { '127.0.0.1:1': 1 })).status, 200);
  await eventually(async () => (await get(`${gw.url}/forms`)).status === 502);
});
