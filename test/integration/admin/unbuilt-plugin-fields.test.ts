import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { adminClient, type AdminCall } from './client.js';

// Through the Admin API: an APISIX config using a field Gatehouse has not built (the
// redis policies' settings, plugin metadata's `max_pending_entries`) is answered 400
// with the field's name, instead of being stored and silently ignored.

let gw: Gateway;
let call: AdminCall;
const upstream = { nodes: { '127.0.0.1:1980': 1 } };

before(async () => {
  gw = await startGateway({ store: 'sqlite' });
  call = adminClient(gw);
});
after(async () => { await gw?.stop(); });

test('a plugin field that is not built is a 400 naming plugin and field; nothing is stored', async () => {
  const r = await call('PUT', '/routes/redis', { uri: '/r', upstream,
    plugins: { 'limit-count': { count: 2, time_window: 60, policy: 'local', redis_host: '127.0.0.1' } } });
  assert.equal(r.status, 400, r.text);
  assert.match(r.body.error_msg, /plugin limit-count err: additional properties forbidden, found redis_host/);
  assert.equal((await call('GET', '/routes/redis')).status, 404);
});

test('a plugin metadata field that is not built is a 400 naming it', async () => {
  const r = await call('PUT', '/plugin_metadata/http-logger', { log_format: { ip: '$remote_addr' }, max_pending_entries: 10 });
  assert.equal(r.status, 400, r.text);
  assert.match(r.body.error_msg, /additional properties forbidden, found max_pending_entries/);
  const ok = await call('PUT', '/plugin_metadata/http-logger', { log_format: { ip: '$remote_addr' } });
  assert.ok(ok.status < 300, ok.text);
});
