import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

let gw: Gateway;
let up: TestUpstream;

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    consumers: [
      { username: 'jack', plugins: { 'key-auth': { key: 'auth-one' } } },
      { username: 'rose', credentials: [{ id: 'c1', plugins: { 'key-auth': { key: 'cred-key' } } }] },
      { username: 'guest' },
    ],
    routes: [
      { id: 'ka', uri: '/ka', upstream, plugins: { 'key-auth': {} } },
      { id: 'hide', uri: '/hide', upstream, plugins: { 'key-auth': { hide_credentials: true } } },
      { id: 'custom', uri: '/custom', upstream, plugins: { 'key-auth': { header: 'X-Key', query: 'k' } } },
      { id: 'anon', uri: '/anon', upstream, plugins: { 'key-auth': { anonymous_consumer: 'guest' } } },
    ],
  })));
});

after(() => stopWithUpstream(gw, up));

test('no key: 401 "Missing API key in request" with the apikey challenge; the upstream is not called', async () => {
  const seen = up.seen.length;
  const r = await get(gw.url + '/ka');
  assert.equal(r.status, 401);
  assert.deepEqual(r.json(), { message: 'Missing API key in request' });
  assert.equal(r.headers['www-authenticate'], 'apikey realm="key"');
  assert.equal(up.seen.length, seen);
});

test('a wrong key: 401 "Invalid API key in request"', async () => {
  const r = await get(gw.url + '/ka', { headers: { apikey: 'nope' } });
  assert.equal(r.status, 401);
  assert.deepEqual(r.json(), { message: 'Invalid API key in request' });
});

test('a key in the header or the query reaches the upstream with the request', async () => {
  const h = await get(gw.url + '/ka', { headers: { apikey: 'auth-one' } });
  assert.equal(h.status, 200);
  assert.equal(h.json().headers.apikey, 'auth-one');
  const q = await get(gw.url + '/ka?apikey=auth-one&x=1');
  assert.equal(q.status, 200);
  assert.equal(q.json().url, '/ka?apikey=auth-one&x=1');
});

test('a credential key identifies its consumer', async () => {
  assert.equal((await get(gw.url + '/ka', { headers: { apikey: 'cred-key' } })).status, 200);
});

test('hide_credentials keeps the key from the upstream (header and query)', async () => {
  const h = await get(gw.url + '/hide', { headers: { apikey: 'auth-one' } });
  assert.equal(h.status, 200);
  assert.equal(h.json().headers.apikey, undefined);
  const q = await get(gw.url + '/hide?x=1&apikey=auth-one');
  assert.equal(q.status, 200);
  assert.equal(q.json().url, '/hide?x=1');
});

test('custom header and query names', async () => {
  assert.equal((await get(gw.url + '/custom', { headers: { 'X-Key': 'auth-one' } })).status, 200);
  assert.equal((await get(gw.url + '/custom?k=auth-one')).status, 200);
  assert.equal((await get(gw.url + '/custom', { headers: { apikey: 'auth-one' } })).status, 401);
});

test('anonymous_consumer lets keyless requests through as that consumer', async () => {
  assert.equal((await get(gw.url + '/anon')).status, 200);
  assert.equal((await get(gw.url + '/anon', { headers: { apikey: 'nope' } })).status, 200);
});

test('the rejection is logged as "key-auth exits with http status code 401"', async () => {
  const from = gw.output().length;
  await get(gw.url + '/ka');
  await gw.waitForOutput(/key-auth exits with http status code 401/, from);
});
