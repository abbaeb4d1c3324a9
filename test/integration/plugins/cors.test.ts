import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

let gw: Gateway;
let up: TestUpstream;

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    consumers: [{ username: 'jack', plugins: { 'key-auth': { key: 'auth-one' } } }],
    plugin_metadata: [{ id: 'cors', allow_origins: { team: 'http://t1.com,http://t2.com' } }],
    routes: [
      { id: 'default', uri: '/default', upstream, plugins: { cors: {} } },
      { id: 'auth', uri: '/auth', upstream, plugins: {
        'key-auth': {},
        cors: { allow_origins: 'http://a.com,http://b.com', allow_methods: 'GET,POST', allow_headers: 'x-one', expose_headers: 'x-exp', max_age: 60, allow_credential: true },
      } },
      { id: 'regex', uri: '/regex', upstream, plugins: { cors: { allow_origins_by_regex: ['^https://[a-z]+\\.test\\.com$'] } } },
      { id: 'metadata', uri: '/metadata', upstream, plugins: { cors: { allow_origins_by_metadata: ['team'] } } },
    ],
  })));
});

after(() => stopWithUpstream(gw, up));

test('default config: * headers on a normal request', async () => {
  const r = await get(gw.url + '/default', { headers: { origin: 'http://x.com' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers['access-control-allow-origin'], '*');
  assert.equal(r.headers['access-control-allow-methods'], '*');
  assert.equal(r.headers['access-control-allow-headers'], '*');
  assert.equal(r.headers['access-control-max-age'], '5');
  assert.equal(r.headers.vary, undefined);
});

test('a preflight on a route with key-auth is answered by cors: 200, empty body, no upstream call', async () => {
  const seen = up.seen.length;
  const r = await get(gw.url + '/auth', { method: 'OPTIONS', headers: { origin: 'http://b.com', 'access-control-request-method': 'POST' } });
  assert.equal(r.status, 200);
  assert.equal(r.body, '');
  assert.equal(r.headers['access-control-allow-origin'], 'http://b.com');
  assert.equal(r.headers['access-control-allow-methods'], 'GET,POST');
  assert.equal(r.headers['access-control-allow-headers'], 'x-one');
  assert.equal(r.headers['access-control-max-age'], '60');
  assert.equal(r.headers['access-control-allow-credentials'], 'true');
  assert.match(String(r.headers.vary), /Origin/);
  assert.equal(up.seen.length, seen);
});

test("key-auth's 401 carries the CORS headers", async () => {
  const r = await get(gw.url + '/auth', { headers: { origin: 'http://a.com' } });
  assert.equal(r.status, 401);
  assert.deepEqual(r.json(), { message: 'Missing API key in request' });
  assert.equal(r.headers['access-control-allow-origin'], 'http://a.com');
  assert.equal(r.headers['access-control-expose-headers'], 'x-exp');
});

test('an authenticated request gets the CORS headers; an unlisted origin gets none', async () => {
  const ok = await get(gw.url + '/auth', { headers: { origin: 'http://a.com', apikey: 'auth-one' } });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers['access-control-allow-origin'], 'http://a.com');
  const other = await get(gw.url + '/auth', { headers: { origin: 'http://evil.com', apikey: 'auth-one' } });
  assert.equal(other.status, 200);
  assert.equal(other.headers['access-control-allow-origin'], undefined);
  assert.match(String(other.headers.vary), /Origin/);
});

test('allow_origins_by_regex', async () => {
  assert.equal((await get(gw.url + '/regex', { headers: { origin: 'https://api.test.com' } })).headers['access-control-allow-origin'], 'https://api.test.com');
  assert.equal((await get(gw.url + '/regex', { headers: { origin: 'https://api.test.com.evil' } })).headers['access-control-allow-origin'], undefined);
});

test('allow_origins_by_metadata reads the plugin metadata', async () => {
  assert.equal((await get(gw.url + '/metadata', { headers: { origin: 'http://t2.com' } })).headers['access-control-allow-origin'], 'http://t2.com');
  assert.equal((await get(gw.url + '/metadata', { headers: { origin: 'http://x.com' } })).headers['access-control-allow-origin'], undefined);
});
