import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { adminClient, type AdminCall } from './client.js';

// Through the Admin API: an APISIX config using a field Gatehouse has not built (the
// redis policies' keepalive pool settings, plugin metadata's `max_pending_entries`), or
// a redis field of a policy other than the one chosen, is answered 400 with the field's
// name, instead of being stored and silently ignored. A redis policy's password is
// stored, and masked for viewers.

let gw: Gateway;
let call: AdminCall;
const upstream = { nodes: { '127.0.0.1:1980': 1 } };
const VIEWER = 'viewer-key-unbuilt-fields';

before(async () => {
  gw = await startGateway({ store: 'sqlite', adminKeys: [
    { name: 'ops', key: 'admin-key-unbuilt-fields', role: 'admin' }, { name: 'dash', key: VIEWER, role: 'viewer' },
  ] });
  call = adminClient(gw);
});
after(async () => { await gw?.stop(); });

test('a plugin field that is not built is a 400 naming plugin and field; nothing is stored', async () => {
  const r = await call('PUT', '/routes/redis', { uri: '/r', upstream,
    plugins: { 'limit-count': { count: 2, time_window: 60, policy: 'redis', redis_host: '127.0.0.1', redis_keepalive_pool: 100 } } });
  assert.equal(r.status, 400, r.text);
  assert.match(r.body.error_msg, /plugin limit-count err: additional properties forbidden, found redis_keepalive_pool/);
  assert.equal((await call('GET', '/routes/redis')).status, 404);
});

test('a redis field of another policy is a 400 naming it', async () => {
  const r = await call('PUT', '/routes/redis', { uri: '/r', upstream,
    plugins: { 'limit-count': { count: 2, time_window: 60, policy: 'local', redis_host: '127.0.0.1' } } });
  assert.equal(r.status, 400, r.text);
  assert.match(r.body.error_msg, /plugin limit-count err: redis_host is not a field of policy "local"/);
  assert.equal((await call('GET', '/routes/redis')).status, 404);
});

test('redis_password is stored with APISIX\'s defaults filled, and a viewer reads it masked', async () => {
  const conf = { conn: 1, burst: 0, default_conn_delay: 0.1, key: 'remote_addr', policy: 'redis', redis_host: '127.0.0.1', redis_password: 'in-clear-pw' };
  const put = await call('PUT', '/routes/redis-pw', { uri: '/pw', upstream, plugins: { 'limit-conn': conf } });
  assert.ok(put.status < 300, put.text);
  const viewer = await call('GET', '/routes/redis-pw', undefined, { key: VIEWER });
  assert.equal(viewer.status, 200, viewer.text);
  assert.doesNotMatch(viewer.text, /in-clear-pw/);
  const seen = viewer.body.value.plugins['limit-conn'];
  assert.equal(seen.redis_password, '******');
  assert.deepEqual([seen.redis_port, seen.redis_timeout, seen.key_ttl], [6379, 1000, 3600]);
  const admin = await call('GET', '/routes/redis-pw');
  assert.equal(admin.body.value.plugins['limit-conn'].redis_password, 'in-clear-pw');
});

test('a plugin metadata field that is not built is a 400 naming it', async () => {
  const r = await call('PUT', '/plugin_metadata/http-logger', { log_format: { ip: '$remote_addr' }, max_pending_entries: 10 });
  assert.equal(r.status, 400, r.text);
  assert.match(r.body.error_msg, /additional properties forbidden, found max_pending_entries/);
  const ok = await call('PUT', '/plugin_metadata/http-logger', { log_format: { ip: '$remote_addr' } });
  assert.ok(ok.status < 300, ok.text);
});
