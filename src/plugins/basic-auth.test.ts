import { test } from 'node:test';
import assert from 'node:assert/strict';
import basicAuth, { parseBasic } from './basic-auth.js';
import { consumer, createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const foo = consumer('foo', { 'basic-auth': [basicAuth, { username: 'foo', password: 'bar:baz' }] });
const cred = consumer('jane', { 'basic-auth': [basicAuth, { username: 'jane', password: 'pw' }] }, { credential_id: 'c-1' });
const anon = consumer('anon', {});
const consumers = [foo, cred, anon];
const CHALLENGE = { 'WWW-Authenticate': 'Basic realm="basic"' };

test('schema: defaults, field errors, consumer schema', () => {
  const p = prepareWith(basicAuth, {}, { consumers });
  assert.equal(p.hide, false);
  assert.equal(p.challenge, 'Basic realm="basic"');
  assert.match(schemaError(basicAuth.schema, { hide_credentials: 1 })!, /property "hide_credentials"/);
  assert.equal(schemaError(basicAuth.consumerSchema, { username: 'a' }), 'property "password" is required');
  assert.equal(schemaError(basicAuth.consumerSchema, { password: 'a' }), 'property "username" is required');
  assert.match(schemaError(basicAuth.consumerSchema, { username: 'a', password: 1 })!, /property "password" validation failed/);
});

test('parseBasic splits at the first colon and refuses malformed headers', () => {
  assert.deepEqual(parseBasic(`Basic ${b64('u:p:q')}`), ['u', 'p:q']);
  assert.deepEqual(parseBasic(`basic ${b64('u:')}`), ['u', '']);
  assert.equal(typeof parseBasic('Bearer abc'), 'string');
  assert.equal(typeof parseBasic(`Basic ${b64('nocolon')}`), 'string');
  assert.equal(typeof parseBasic('Basic !!!'), 'string');
});

test('valid credentials attach the consumer', async () => {
  const p = prepareWith(basicAuth, {}, { consumers });
  const ctx = createTestContext({ headers: { Authorization: `Basic ${b64('foo:bar:baz')}` } });
  assert.equal(await basicAuth.rewrite!(p, ctx), undefined);
  assert.equal(ctx.attached[0], foo);
  assert.ok(ctx.request.headers.authorization, 'kept without hide_credentials');
  const c = createTestContext({ headers: { Authorization: `Basic ${b64('jane:pw')}` } });
  await basicAuth.rewrite!(p, c);
  assert.equal(c.attached[0]!.credential_id, 'c-1');
});

test('failures: 401 with APISIX messages and the Basic challenge', async () => {
  const p = prepareWith(basicAuth, {}, { consumers });
  const r = (h?: string) => basicAuth.rewrite!(p, createTestContext({ headers: h === undefined ? {} : { authorization: h } }));
  assert.deepEqual(await r(), { status: 401, body: { message: 'Missing authorization in request' }, headers: CHALLENGE });
  assert.deepEqual(await r('Basic ???'), { status: 401, body: { message: 'Invalid authorization in request' }, headers: CHALLENGE });
  assert.deepEqual(await r(`Basic ${b64('foo:wrong')}`), { status: 401, body: { message: 'Invalid user authorization' }, headers: CHALLENGE });
  assert.deepEqual(await r(`Basic ${b64('nobody:bar')}`), { status: 401, body: { message: 'Invalid user authorization' }, headers: CHALLENGE });
  assert.deepEqual(await r(`Basic ${b64('foo:bar')}`), { status: 401, body: { message: 'Invalid user authorization' }, headers: CHALLENGE });
});

test('hide_credentials removes the Authorization header; realm changes the challenge', async () => {
  const p = prepareWith(basicAuth, { hide_credentials: true, realm: 'private' }, { consumers });
  const ctx = createTestContext({ headers: { authorization: `Basic ${b64('foo:bar:baz')}` } });
  await basicAuth.rewrite!(p, ctx);
  assert.equal(ctx.request.headers.authorization, undefined);
  const r = await basicAuth.rewrite!(p, createTestContext());
  assert.deepEqual(r?.headers, { 'WWW-Authenticate': 'Basic realm="private"' });
});

test('anonymous_consumer: fallback, and 401 when it does not exist', async () => {
  const p = prepareWith(basicAuth, { anonymous_consumer: 'anon' }, { consumers });
  const ctx = createTestContext({ headers: { authorization: `Basic ${b64('foo:wrong')}` } });
  assert.equal(await basicAuth.rewrite!(p, ctx), undefined);
  assert.equal(ctx.attached[0], anon);
  const ghost = prepareWith(basicAuth, { anonymous_consumer: 'ghost' }, { consumers });
  const r = await basicAuth.rewrite!(ghost, createTestContext());
  assert.deepEqual(r?.body, { message: 'Invalid user authorization' });
});
