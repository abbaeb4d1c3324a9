import { test } from 'node:test';
import assert from 'node:assert/strict';
import keyAuth from './key-auth.js';
import { consumer, createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';

const jack = consumer('jack', { 'key-auth': [keyAuth, { key: 'auth-one' }] }, { group_id: 'g1' });
const credential = consumer('rose', { 'key-auth': [keyAuth, { key: 'cred-key' }] }, { credential_id: 'c1' });
const anonymous = consumer('anon', {});
const consumers = [jack, credential, anonymous];

test('schema: defaults, field errors, consumer schema requires key', () => {
  const p = prepareWith(keyAuth, {}, { consumers });
  assert.equal(p.header, 'apikey');
  assert.equal(p.query, 'apikey');
  assert.equal(p.hide, false);
  assert.equal(p.challenge, 'apikey realm="key"');
  assert.match(schemaError(keyAuth.schema, { header: 1 })!, /property "header" validation failed: wrong type/);
  assert.match(schemaError(keyAuth.schema, { hide_credentials: 'yes' })!, /property "hide_credentials"/);
  assert.match(schemaError(keyAuth.schema, { realm: 'a"b' })!, /property "realm"/);
  assert.match(schemaError(keyAuth.schema, { anonymous_consumer: '' })!, /property "anonymous_consumer"/);
  assert.equal(schemaError(keyAuth.consumerSchema, {}), 'property "key" is required');
  assert.equal(schemaError(keyAuth.consumerSchema, { key: 'x' }), undefined);
});

test('a key in the header identifies the consumer', async () => {
  const p = prepareWith(keyAuth, {}, { consumers });
  const ctx = createTestContext({ headers: { apikey: 'auth-one' } });
  assert.equal(await keyAuth.rewrite!(p, ctx), undefined);
  assert.equal(ctx.attached[0], jack);
  assert.equal(ctx.request.headers.apikey, 'auth-one', 'kept without hide_credentials');
});

test('a key in the query identifies the consumer; a credential keeps its credential_id', async () => {
  const p = prepareWith(keyAuth, {}, { consumers });
  const ctx = createTestContext({ uri: '/x?apikey=cred-key' });
  assert.equal(await keyAuth.rewrite!(p, ctx), undefined);
  assert.equal(ctx.attached[0]!.credential_id, 'c1');
  assert.equal(ctx.request.upstreamUri, '/x?apikey=cred-key');
});

test('the header wins over the query', async () => {
  const p = prepareWith(keyAuth, {}, { consumers });
  const ctx = createTestContext({ uri: '/x?apikey=cred-key', headers: { apikey: 'auth-one' } });
  await keyAuth.rewrite!(p, ctx);
  assert.equal(ctx.attached[0], jack);
});

test('missing and invalid keys: 401 with APISIX messages and the challenge', async () => {
  const p = prepareWith(keyAuth, {}, { consumers });
  assert.deepEqual(await keyAuth.rewrite!(p, createTestContext()), {
    status: 401, body: { message: 'Missing API key in request' }, headers: { 'WWW-Authenticate': 'apikey realm="key"' },
  });
  const ctx = createTestContext({ headers: { apikey: 'nope' } });
  assert.deepEqual(await keyAuth.rewrite!(p, ctx), {
    status: 401, body: { message: 'Invalid API key in request' }, headers: { 'WWW-Authenticate': 'apikey realm="key"' },
  });
  assert.equal(ctx.attached.length, 0);
});

test('custom header, query and realm', async () => {
  const p = prepareWith(keyAuth, { header: 'X-API-Key', query: 'token', realm: 'mine' }, { consumers });
  const a = createTestContext({ headers: { 'x-api-key': 'auth-one' } });
  assert.equal(await keyAuth.rewrite!(p, a), undefined);
  const b = createTestContext({ uri: '/?token=auth-one' });
  assert.equal(await keyAuth.rewrite!(p, b), undefined);
  const c = createTestContext({ uri: '/?apikey=auth-one' });
  const r = await keyAuth.rewrite!(p, c);
  assert.equal(r?.status, 401);
  assert.deepEqual(r?.headers, { 'WWW-Authenticate': 'apikey realm="mine"' });
});

test('hide_credentials removes only the source used', async () => {
  const p = prepareWith(keyAuth, { hide_credentials: true }, { consumers });
  const h = createTestContext({ uri: '/x?apikey=other&a=1', headers: { apikey: 'auth-one' } });
  await keyAuth.rewrite!(p, h);
  assert.equal(h.request.headers.apikey, undefined);
  assert.equal(h.request.upstreamUri, '/x?apikey=other&a=1');
  const q = createTestContext({ uri: '/x?a=1&apikey=auth-one&b=%20' });
  await keyAuth.rewrite!(p, q);
  assert.equal(q.request.upstreamUri, '/x?a=1&b=%20');
  const only = createTestContext({ uri: '/x?apikey=auth-one' });
  await keyAuth.rewrite!(p, only);
  assert.equal(only.request.upstreamUri, '/x');
});

test('anonymous_consumer: used on failure; 401 when it does not exist', async () => {
  const p = prepareWith(keyAuth, { anonymous_consumer: 'anon', hide_credentials: true }, { consumers });
  const ctx = createTestContext({ uri: '/?apikey=bad', headers: { apikey: 'bad' } });
  assert.equal(await keyAuth.rewrite!(p, ctx), undefined);
  assert.equal(ctx.attached[0], anonymous);
  assert.equal(ctx.request.headers.apikey, undefined, 'the invalid key is hidden too');
  assert.equal(ctx.request.upstreamUri, '/');
  const good = createTestContext({ headers: { apikey: 'auth-one' } });
  await keyAuth.rewrite!(p, good);
  assert.equal(good.attached[0], jack);

  const missing = prepareWith(keyAuth, { anonymous_consumer: 'ghost' }, { consumers });
  const r = await keyAuth.rewrite!(missing, createTestContext());
  assert.deepEqual(r?.body, { message: 'Invalid user authorization' });
});

test('prepare works without consumers (write-time check)', async () => {
  const p = prepareWith(keyAuth, { anonymous_consumer: 'anon' });
  assert.equal(p.table.size, 0);
});
