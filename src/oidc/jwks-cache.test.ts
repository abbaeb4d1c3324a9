import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { MAX_JWKS_KEYS, parseKeySet, verifyWithJwks } from './jwks-cache.js';
import { RemoteJsonCache, RETRY_AFTER_FAILURE_MS } from './remote-json.js';

// A key set server on loopback whose answer the tests change.
let answer: { status: number; body: string } = { status: 200, body: '{"keys": []}' };
let hits = 0;
const server = http.createServer((_req, res) => { hits++; res.statusCode = answer.status; res.end(answer.body); });
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const policy = { dispatcher: new Agent(), timeoutMs: 2000 };
after(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));

const rsa = await generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await exportJWK(rsa.publicKey)), kid: 'k1', alg: 'RS256' };
const token = await new SignJWT({ sub: 'a' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setExpirationTime('1m').sign(rsa.privateKey);

test('parseKeySet: needs a keys array; keeps signature keys, at most MAX_JWKS_KEYS', () => {
  assert.throws(() => parseKeySet({}), /no "keys" array/);
  assert.throws(() => parseKeySet(null), /no "keys" array/);
  const many = Array.from({ length: MAX_JWKS_KEYS + 5 }, (_, i) => ({ ...jwk, kid: `k${i}` }));
  assert.equal(parseKeySet({ keys: [...many, 'junk', { ...jwk, use: 'enc' }] }).keys.keys.length, MAX_JWKS_KEYS);
  assert.equal(parseKeySet({ keys: [{ ...jwk, use: 'enc' }, { kty: 5 }] }).keys.keys.length, 0);
});

test('verifyWithJwks: fetched once, then from memory', async () => {
  answer = { status: 200, body: JSON.stringify({ keys: [jwk] }) };
  const before = hits;
  for (let i = 0; i < 3; i++) assert.equal((await verifyWithJwks(token, `${base}/once`, policy, {})).payload.sub, 'a');
  assert.equal(hits, before + 1);
});

test('concurrent first requests share one fetch', async () => {
  answer = { status: 200, body: JSON.stringify({ keys: [jwk] }) };
  const before = hits;
  await Promise.all(Array.from({ length: 5 }, () => verifyWithJwks(token, `${base}/together`, policy, {})));
  assert.equal(hits, before + 1);
});

test('an unreachable key set is an error; failures are not retried within RETRY_AFTER_FAILURE_MS', async () => {
  answer = { status: 500, body: 'down' };
  const before = hits;
  await assert.rejects(verifyWithJwks(token, `${base}/down`, policy, {}), /failed to fetch the JWKS .* answered 500/);
  await assert.rejects(verifyWithJwks(token, `${base}/down`, policy, {}), /answered 500/);
  assert.equal(hits, before + 1);
  assert.ok(RETRY_AFTER_FAILURE_MS >= 1000);
});

test('the last good document stays in use when a refresh fails', async () => {
  const cache = new RemoteJsonCache<unknown>('doc', (j) => j);
  answer = { status: 200, body: '{"v": 1}' };
  assert.deepEqual(await cache.get(`${base}/stale`, policy, 1), { v: 1 });
  await new Promise((r) => setTimeout(r, 5));
  answer = { status: 503, body: '' };
  assert.deepEqual(await cache.get(`${base}/stale`, policy, 1), { v: 1 }, 'expired, refresh failed: stale served');
  answer = { status: 200, body: 'not json' };
  await assert.rejects(new RemoteJsonCache('doc', (j) => j).get(`${base}/notjson`, policy, 1000), /is not JSON/);
});
