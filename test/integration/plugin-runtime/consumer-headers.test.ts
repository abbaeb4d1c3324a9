// Once an auth plugin identifies a consumer, the upstream learns who it is, as APISIX's
// attach_consumer does: X-Consumer-Username, X-Credential-Identifier (the credential id
// when a credential matched) and X-Consumer-Custom-Id (the consumer's `custom_id` label).
// Headers a client sends under those names are replaced or removed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

let gw: Gateway;
let up: TestUpstream;
const basic = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    consumers: [
      {
        username: 'jack',
        labels: { custom_id: 'cust-42', team: 'a' },
        plugins: { 'key-auth': { key: 'jack-key' }, 'basic-auth': { username: 'jack', password: 'jack-pass' } },
        credentials: [
          { id: 'mobile', plugins: { 'key-auth': { key: 'jack-mobile-key' } } },
          { id: 'jwt-cred', plugins: { 'jwt-auth': { key: 'jack-jwt', secret: 'jwt-secret-value' } } },
        ],
      },
      { username: 'kate', plugins: { 'key-auth': { key: 'kate-key' } } },
    ],
    routes: [
      { id: 'key', uri: '/key', upstream, plugins: { 'key-auth': {} } },
      { id: 'hide', uri: '/hide', upstream, plugins: { 'key-auth': { hide_credentials: true } } },
      { id: 'basic', uri: '/basic', upstream, plugins: { 'basic-auth': { hide_credentials: true } } },
      { id: 'jwt', uri: '/jwt', upstream, plugins: { 'jwt-auth': {} } },
      { id: 'open', uri: '/open', upstream },
    ],
  })));
});

after(() => stopWithUpstream(gw, up));

async function upstreamSaw(path: string, headers: Record<string, string>): Promise<Record<string, string | undefined>> {
  const r = await get(gw.url + path, { headers });
  assert.equal(r.status, 200, r.body);
  return r.json().headers as Record<string, string | undefined>;
}

test('key-auth on the consumer itself: username and custom id, no credential id', async () => {
  const h = await upstreamSaw('/key', { apikey: 'jack-key' });
  assert.equal(h['x-consumer-username'], 'jack');
  assert.equal(h['x-consumer-custom-id'], 'cust-42');
  assert.equal(h['x-credential-identifier'], undefined);
  assert.equal(h.apikey, 'jack-key');
});

test('key-auth through a credential: the credential id too', async () => {
  const h = await upstreamSaw('/key', { apikey: 'jack-mobile-key' });
  assert.equal(h['x-consumer-username'], 'jack');
  assert.equal(h['x-credential-identifier'], 'mobile');
  assert.equal(h['x-consumer-custom-id'], 'cust-42');
});

test('a consumer without custom_id: the header is absent; spoofed values from the client are dropped', async () => {
  const h = await upstreamSaw('/key', {
    apikey: 'kate-key', 'x-consumer-username': 'admin', 'x-credential-identifier': 'forged', 'x-consumer-custom-id': 'forged',
  });
  assert.equal(h['x-consumer-username'], 'kate');
  assert.equal(h['x-credential-identifier'], undefined);
  assert.equal(h['x-consumer-custom-id'], undefined);
});

test('hide_credentials still removes the key, while the consumer headers are sent', async () => {
  const h = await upstreamSaw('/hide', { apikey: 'jack-key' });
  assert.equal(h.apikey, undefined);
  assert.equal(h['x-consumer-username'], 'jack');
  const b = await upstreamSaw('/basic', { authorization: basic('jack', 'jack-pass') });
  assert.equal(b.authorization, undefined);
  assert.equal(b['x-consumer-username'], 'jack');
  assert.equal(b['x-consumer-custom-id'], 'cust-42');
});

test('jwt-auth through a credential', async () => {
  const token = await new SignJWT({ key: 'jack-jwt', exp: Math.floor(Date.now() / 1000) + 60 })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode('jwt-secret-value'));
  const h = await upstreamSaw('/jwt', { authorization: `Bearer ${token}` });
  assert.equal(h['x-consumer-username'], 'jack');
  assert.equal(h['x-credential-identifier'], 'jwt-cred');
  assert.equal(h['x-consumer-custom-id'], 'cust-42');
});

test('a route without auth passes client headers of those names through untouched', async () => {
  const h = await upstreamSaw('/open', { 'x-consumer-username': 'someone' });
  assert.equal(h['x-consumer-username'], 'someone');
});
