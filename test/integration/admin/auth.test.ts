// Access control of the Admin API: allow list first, then the key and its role.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { get } from '../../helpers/http.js';
import { adminClient, type AdminCall } from './client.js';

const ADMIN = 'admin-key-0123456789';
const VIEWER = 'viewer-key-0123456789';
const upstream = { nodes: { '127.0.0.1:1980': 1 } };

describe('keys and roles', () => {
  let gw: Gateway;
  let call: AdminCall;
  before(async () => {
    gw = await startGateway({
      store: 'sqlite',
      adminKeys: [{ name: 'ops', key: ADMIN, role: 'admin' }, { name: 'dash', key: VIEWER, role: 'viewer' }],
      statusListener: false,
    });
    call = adminClient(gw);
  });
  after(async () => { await gw?.stop(); });

  test('a request without a key is a 401 saying the key is missing', async () => {
    const r = await call('GET', '/routes', undefined, { key: null });
    assert.equal(r.status, 401);
    assert.deepEqual(r.body, { error_msg: 'failed to check token', description: 'missing apikey' });
    assert.equal((await call('PUT', '/upstreams/x', upstream, { key: null })).status, 401);
  });

  test('a wrong key is a 401 saying it is wrong', async () => {
    const r = await call('GET', '/routes', undefined, { key: `${ADMIN}x` });
    assert.equal(r.status, 401);
    assert.deepEqual(r.body, { error_msg: 'failed to check token', description: 'wrong apikey' });
  });

  test('the key is also read from the api_key argument and the x_api_key cookie', async () => {
    assert.equal((await call('GET', `/routes?api_key=${ADMIN}`, undefined, { key: null })).status, 200);
    assert.equal((await call('GET', '/routes', undefined, { key: null, headers: { cookie: `x_api_key=${ADMIN}` } })).status, 200);
  });

  test('a POST authenticated only by cookie must carry a JSON content type, as no cross-site form can', async () => {
    const cookie = { cookie: `x_api_key=${ADMIN}` };
    const form = await call('POST', '/upstreams', undefined,
      { key: null, raw: JSON.stringify(upstream), headers: { ...cookie, 'content-type': 'text/plain' } });
    assert.equal(form.status, 415, form.text);
    const json = await call('POST', '/upstreams', upstream, { key: null, headers: cookie });
    assert.equal(json.status, 201, json.text);
  });

  test('a viewer reads (200) but every write is a 403', async () => {
    assert.equal((await call('PUT', '/upstreams/v', upstream, { key: ADMIN })).status, 201);
    const read = await call('GET', '/upstreams/v', undefined, { key: VIEWER });
    assert.equal(read.status, 200);
    assert.equal((await call('GET', '/upstreams', undefined, { key: VIEWER })).status, 200);
    for (const [method, path, body] of [['PUT', '/upstreams/v', upstream], ['POST', '/upstreams', upstream],
      ['PATCH', '/upstreams/v', { desc: 'x' }], ['DELETE', '/upstreams/v', undefined]] as const) {
      const r = await call(method, path, body, { key: VIEWER });
      assert.equal(r.status, 403, `${method} ${path}`);
      assert.deepEqual(r.body, { error_msg: 'failed to check token', description: 'invalid method for role viewer' });
    }
    assert.equal((await call('GET', '/upstreams/v', undefined, { key: ADMIN })).body.value.desc, undefined);
  });

  test('a viewer reads consumer and credential secrets masked; an admin reads them in clear', async () => {
    const put = async (path: string, body: unknown): Promise<void> => {
      const r = await call('PUT', path, body, { key: ADMIN });
      assert.ok(r.status === 201 || r.status === 200, r.text);
    };
    await put('/consumers', {
      username: 'secretive', labels: { custom_id: 'c1' },
      plugins: { 'key-auth': { key: 'key-in-clear' }, 'basic-auth': { username: 'sec', password: 'pass-in-clear' } },
    });
    await put('/consumers/secretive/credentials/jwt', { plugins: { 'jwt-auth': { key: 'jwt-id', secret: 'jwt-secret-in-clear' } } });
    await put('/consumers/secretive/credentials/k2', { plugins: { 'key-auth': { key: 'second-key-in-clear' } } });
    const reads = ['/consumers/secretive', '/consumers', '/consumers/secretive/credentials', '/consumers/secretive/credentials/jwt',
      '/consumers/secretive/credentials/k2'];
    for (const path of reads) {
      const viewer = await call('GET', path, undefined, { key: VIEWER });
      assert.equal(viewer.status, 200, viewer.text);
      assert.doesNotMatch(viewer.text, /in-clear/, `${path} as viewer`);
      const admin = await call('GET', path, undefined, { key: ADMIN });
      assert.match(admin.text, /in-clear/, `${path} as admin`);
    }
    const one = (await call('GET', '/consumers/secretive', undefined, { key: VIEWER })).body.value;
    assert.deepEqual(one.plugins['key-auth'], { key: '******' });
    assert.deepEqual(one.plugins['basic-auth'], { username: 'sec', password: '******' });
    assert.deepEqual(one.labels, { custom_id: 'c1' });
    const jwt = (await call('GET', '/consumers/secretive/credentials/jwt', undefined, { key: VIEWER })).body.value;
    assert.equal(jwt.plugins['jwt-auth'].secret, '******');
    assert.equal(jwt.plugins['jwt-auth'].key, 'jwt-id');
  });

  test('without a status listener, /status and /status/ready are served on the admin listener without a key', async () => {
    assert.equal(gw.statusUrl, gw.adminUrl.replace('/apisix/admin', ''));
    const live = await get(`${gw.statusUrl}/status`);
    assert.equal(live.status, 200);
    assert.deepEqual(live.json(), { status: 'ok' });
    assert.equal((await get(`${gw.statusUrl}/status/ready`)).status, 200);
  });

  test('a CORS preflight is answered without a key', async () => {
    const r = await call('OPTIONS', '/routes', undefined, { key: null, headers: { origin: 'http://dash.example' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['access-control-allow-origin'], 'http://dash.example');
  });
});

describe('allow list and generated key', () => {
  let gw: Gateway;
  before(async () => {
    gw = await startGateway({ store: 'sqlite', admin: { allow: ['10.0.0.0/8'] } });
  });
  after(async () => { await gw?.stop(); });

  test('a client outside admin.allow gets a 403, even with the right key', async () => {
    const call = adminClient(gw);
    for (const r of [await call('GET', '/routes'), await call('GET', '/routes', undefined, { key: null }),
      await call('PUT', '/upstreams/x', upstream)]) {
      assert.equal(r.status, 403, r.text);
      assert.match(r.body.error_msg, /127\.0\.0\.1 is not allowed/);
    }
  });

  test('without admin.keys a key is generated, saved with mode 0600 and printed once at warn', () => {
    const file = join(gw.dir, 'data', 'admin.key');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(gw.adminKey.length >= 32);
    const lines = gw.output().split('\n').filter((l) => l.includes(gw.adminKey));
    assert.equal(lines.length, 1);
    const line = JSON.parse(lines[0]!) as { level: number; file: string };
    assert.equal(line.level, 40);
    assert.equal(line.file, file);
  });
});
