import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, exportSPKI, generateKeyPair } from 'jose';
import { startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

let gw: Gateway;
let up: TestUpstream;
const rsa = await generateKeyPair('RS256');
const secret = new TextEncoder().encode('my-secret-key');
const now = (): number => Math.floor(Date.now() / 1000);
const hs = (claims: Record<string, unknown>, key = secret): Promise<string> =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(key);

before(async () => {
  const rsaPublic = await exportSPKI(rsa.publicKey);
  ({ gw, up } = await startWithUpstream((upstream) => ({
    consumers: [
      { username: 'jack', plugins: { 'jwt-auth': { key: 'user-key', secret: 'my-secret-key' } } },
      { username: 'kate', plugins: { 'jwt-auth': { key: 'rsa-key', algorithm: 'RS256', public_key: rsaPublic } } },
    ],
    routes: [
      { id: 'jwt', uri: '/jwt', upstream, plugins: { 'jwt-auth': {} } },
      { id: 'hide', uri: '/hide', upstream, plugins: { 'jwt-auth': { hide_credentials: true } } },
      // the seed's example (APISIX plugin docs, `_meta.error_response`)
      { id: 'custom-error', uri: '/custom-error', upstream, plugins: { 'jwt-auth': { _meta: { error_response: { message: 'Missing credential in request' } } } } },
    ],
  })));
});

after(() => stopWithUpstream(gw, up));

test('no token: 401 "Missing JWT token in request" with the Bearer challenge', async () => {
  const r = await get(gw.url + '/jwt');
  assert.equal(r.status, 401);
  assert.deepEqual(r.json(), { message: 'Missing JWT token in request' });
  assert.equal(r.headers['www-authenticate'], 'Bearer realm="jwt"');
});

test('a valid HS256 token in the header, the query or the cookie', async () => {
  const token = await hs({ key: 'user-key', exp: now() + 60 });
  const h = await get(gw.url + '/jwt', { headers: { authorization: `Bearer ${token}` } });
  assert.equal(h.status, 200);
  assert.equal(h.json().headers.authorization, `Bearer ${token}`);
  assert.equal((await get(`${gw.url}/jwt?jwt=${token}`)).status, 200);
  assert.equal((await get(gw.url + '/jwt', { headers: { cookie: `jwt=${token}` } })).status, 200);
});

test('a valid RS256 token', async () => {
  const token = await new SignJWT({ key: 'rsa-key' }).setProtectedHeader({ alg: 'RS256' }).sign(rsa.privateKey);
  assert.equal((await get(gw.url + '/jwt', { headers: { authorization: token } })).status, 200);
});

test('bad signature, expired token, unknown key, garbage', async () => {
  const fail = async (authorization: string, message: string) => {
    const r = await get(gw.url + '/jwt', { headers: { authorization } });
    assert.equal(r.status, 401, message);
    assert.deepEqual(r.json(), { message });
  };
  await fail(await hs({ key: 'user-key' }, new TextEncoder().encode('other')), 'failed to verify jwt');
  await fail(await hs({ key: 'user-key', exp: now() - 5 }), 'failed to verify jwt');
  await fail(await hs({ key: 'who' }), 'Invalid user key in JWT token');
  await fail(await hs({ sub: 'x' }), 'missing user key in JWT token');
  await fail('not-a-jwt', 'JWT token invalid');
});

test('hide_credentials keeps the token from the upstream', async () => {
  const token = await hs({ key: 'user-key' });
  const r = await get(gw.url + '/hide', { headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.status, 200);
  assert.equal(r.json().headers.authorization, undefined);
  const q = await get(`${gw.url}/hide?jwt=${token}&x=1`);
  assert.equal(q.json().url, '/hide?x=1');
});

test('_meta.error_response replaces the rejection body, keeping the status', async () => {
  const r = await get(gw.url + '/custom-error');
  assert.equal(r.status, 401);
  assert.deepEqual(r.json(), { message: 'Missing credential in request' });
  const ok = await get(gw.url + '/custom-error', { headers: { authorization: await hs({ key: 'user-key' }) } });
  assert.equal(ok.status, 200);
});
