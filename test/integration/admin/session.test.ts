// GET /apisix/admin/session: the name and role of the key sent, never the key itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { adminClient, type AdminCall } from './client.js';

const ADMIN = 'session-admin-key-0123456789';
const VIEWER = 'session-viewer-key-0123456789';

let gw: Gateway;
let call: AdminCall;

before(async () => {
  gw = await startGateway({
    store: 'sqlite', statusListener: false,
    adminKeys: [{ name: 'ops', key: ADMIN, role: 'admin' }, { name: 'dash', key: VIEWER, role: 'viewer' }],
  });
  call = adminClient(gw);
});
after(async () => { await gw?.stop(); });

test('an admin key is answered with its name and role, and nothing else', async () => {
  const r = await call('GET', '/session', undefined, { key: ADMIN });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body, { name: 'ops', role: 'admin' });
  assert.ok(!r.text.includes(ADMIN));
});

test('a viewer key may read its session', async () => {
  const r = await call('GET', '/session', undefined, { key: VIEWER });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body, { name: 'dash', role: 'viewer' });
  assert.ok(!r.text.includes(VIEWER));
});

test('the key may come from the cookie, as for every admin call', async () => {
  const r = await call('GET', '/session', undefined, { key: null, headers: { cookie: `x_api_key=${VIEWER}` } });
  assert.deepEqual([r.status, r.body], [200, { name: 'dash', role: 'viewer' }]);
});

test('no key or a wrong key is a 401 like every other admin call', async () => {
  const missing = await call('GET', '/session', undefined, { key: null });
  assert.equal(missing.status, 401);
  assert.deepEqual(missing.body, { error_msg: 'failed to check token', description: 'missing apikey' });
  const wrong = await call('GET', '/session', undefined, { key: `${ADMIN}x` });
  assert.equal(wrong.status, 401);
  assert.deepEqual(wrong.body, { error_msg: 'failed to check token', description: 'wrong apikey' });
});

test('only reads are served; sub-paths are a 404', async () => {
  const post = await call('POST', '/session', {}, { key: ADMIN });
  assert.equal(post.status, 405, post.text);
  assert.match(post.body.error_msg, /session/);
  const viewerPost = await call('POST', '/session', {}, { key: VIEWER });
  assert.equal(viewerPost.status, 403);
  const sub = await call('GET', '/session/x', undefined, { key: ADMIN });
  assert.equal(sub.status, 404);
  assert.ok(typeof sub.body.error_msg === 'string');
});
