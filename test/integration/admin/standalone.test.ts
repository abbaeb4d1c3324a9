// With store.type standalone the file is the configuration: the Admin API reads it and
// refuses writes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { adminClient, type AdminCall } from './client.js';

let gw: Gateway;
let call: AdminCall;
const upstream = { nodes: { '127.0.0.1:1980': 1 } };

before(async () => {
  gw = await startGateway({ config: { upstreams: [{ id: 'u1', ...upstream }], routes: [{ id: 'r1', uri: '/r1', upstream_id: 'u1' }] } });
  call = adminClient(gw);
});
after(async () => { await gw?.stop(); });

test('objects of the standalone file are listed and read with v3 envelopes', async () => {
  const list = await call('GET', '/routes');
  assert.equal(list.status, 200, list.text);
  assert.equal(list.body.total, 1);
  assert.equal(list.body.list[0].key, '/apisix/routes/r1');
  const one = await call('GET', '/upstreams/u1');
  assert.equal(one.status, 200);
  assert.equal(one.body.value.id, 'u1');
});

test('writes are refused with 405 and a message pointing at the file', async () => {
  for (const [method, path, body] of [['PUT', '/routes/r2', { uri: '/r2', upstream_id: 'u1' }], ['POST', '/routes', { uri: '/x', upstream }],
    ['PATCH', '/routes/r1', { desc: 'x' }], ['DELETE', '/routes/r1', undefined]] as const) {
    const r = await call(method, path, body);
    assert.equal(r.status, 405, `${method} ${path}: ${r.text}`);
    assert.match(r.body.error_msg, /read-only/);
  }
  assert.equal((await call('POST', '/schema/validate/routes', { uri: '/x', upstream })).status, 200);
});
