import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import { get } from '../../helpers/http.js';
import { startLoopbackServer } from '../../helpers/loopback-server.js';
import { startOidcProvider, type TestOidcProvider } from '../../helpers/oidc-provider.js';
import type { TestUpstream } from '../../fixtures/upstream.js';

// jwt-auth credentials with `jwks_uri` (Gatehouse's extension): RS256 tokens checked
// against a real OpenID provider's key set, ES256 and EdDSA ones against a local JWKS
// server whose keys rotate.
let op: TestOidcProvider;
let jwks: http.Server;
let jwksUrl: string;
let jwksHits = 0;
const served: JWK[] = [];
let gw: Gateway;
let up: TestUpstream;

const es = await generateKeyPair('ES256', { extractable: true });
const ed = await generateKeyPair('EdDSA', { extractable: true });
const rotated = await generateKeyPair('ES256', { extractable: true });

const publicJwk = async (key: CryptoKey, kid: string, alg: string): Promise<JWK> => ({ ...(await exportJWK(key)), kid, alg, use: 'sig' });
const sign = (claims: Record<string, unknown>, key: CryptoKey, alg: string, kid: string): Promise<string> =>
  new SignJWT(claims).setProtectedHeader({ alg, kid }).setExpirationTime('5m').sign(key);
const call = (token: string) => get(gw.url + '/jwt', { headers: { authorization: `Bearer ${token}` } });

before(async () => {
  op = await startOidcProvider();
  op.configure([{ client_id: 'unused', client_secret: 'unused-secret', redirect_uris: ['http://127.0.0.1/cb'] }]);
  served.push(await publicJwk(es.publicKey, 'es-1', 'ES256'), await publicJwk(ed.publicKey, 'ed-1', 'EdDSA'));
  ({ server: jwks, url: jwksUrl } = await startLoopbackServer((_req, res) => {
    jwksHits++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: served }));
  }));
  ({ gw, up } = await startWithUpstream((upstream) => ({
    consumers: [
      { username: 'idp-user', plugins: { 'jwt-auth': { key: 'idp', algorithm: 'RS256', jwks_uri: op.jwksUri } } },
      { username: 'es-user', plugins: { 'jwt-auth': { key: 'es', algorithm: 'ES256', jwks_uri: `${jwksUrl}/keys` } } },
      { username: 'ed-user', plugins: { 'jwt-auth': { key: 'ed', algorithm: 'EdDSA', jwks_uri: `${jwksUrl}/keys` } } },
    ],
    routes: [{ id: 'jwt', uri: '/jwt', upstream, plugins: { 'jwt-auth': {} } }],
  })));
});

after(async () => {
  await stopWithUpstream(gw, up);
  await op?.close();
  await new Promise((resolve) => jwks?.close(resolve));
});

test('RS256 tokens verified with the OpenID provider\'s key set identify the consumer', async () => {
  const r = await call(await op.sign({ key: 'idp', sub: 'alice' }));
  assert.equal(r.status, 200, r.body);
  assert.equal(up.seen.at(-1)!.headers['x-consumer-username'], 'idp-user');
});

test('ES256 and EdDSA tokens picked by kid; foreign keys, wrong algorithms and expired tokens refused', async () => {
  assert.equal((await call(await sign({ key: 'es' }, es.privateKey, 'ES256', 'es-1'))).status, 200);
  assert.equal((await call(await sign({ key: 'ed' }, ed.privateKey, 'EdDSA', 'ed-1'))).status, 200);
  const { privateKey: foreign } = await generateKeyPair('ES256');
  for (const bad of [
    await sign({ key: 'es' }, foreign, 'ES256', 'es-1'),
    await sign({ key: 'es' }, ed.privateKey, 'EdDSA', 'ed-1'), // the consumer's algorithm is ES256
    await new SignJWT({ key: 'es' }).setProtectedHeader({ alg: 'ES256', kid: 'es-1' }).setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(es.privateKey),
  ]) {
    const r = await call(bad);
    assert.equal(r.status, 401);
    assert.deepEqual(r.json(), { message: 'failed to verify jwt' });
  }
});

test('a rotated key (unknown kid) makes one refetch, at most one per 2 s per key set', async () => {
  const token = await sign({ key: 'es' }, rotated.privateKey, 'ES256', 'es-2');
  served.push(await publicJwk(rotated.publicKey, 'es-2', 'ES256'));
  await new Promise((r) => setTimeout(r, 2100)); // past the refetch interval since the first fetch
  const before = jwksHits;
  assert.equal((await call(token)).status, 200, 'the new key is fetched');
  assert.equal(jwksHits, before + 1);
  for (let i = 0; i < 5; i++) assert.equal((await call(await sign({ key: 'es' }, rotated.privateKey, 'ES256', `made-up-${i}`))).status, 401);
  assert.equal(jwksHits, before + 1, 'unknown kids right after a fetch do not fetch again');
});
