import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { LocalCounterStore } from '../counters/counter-table.js';
import { setCounterStore } from '../counters/index.js';
import type { CounterStore, KeyMarks } from '../contracts/counter-store.js';
import jwtLogout, { revocationKey } from './jwt-logout.js';
import { shareVerifiedJwt, type VerifiedJwt } from './common/verified-jwt.js';
import { createTestContext, prepareWith, schemaError, type TestContextOptions } from '../../test/helpers/plugin-context.js';

afterEach(() => setCounterStore(undefined));

const jwt = (claims: Record<string, unknown>, validUntilMs: number | undefined = Date.now() + 60_000, token = 'h.p.s'): VerifiedJwt =>
  ({ token, claims, validUntilMs });

async function run(conf: Record<string, unknown>, req: TestContextOptions, verified: VerifiedJwt | undefined, username = 'jack') {
  const p = prepareWith(jwtLogout, conf);
  const ctx = createTestContext({ consumer: { username, plugins: {} }, ...req });
  if (verified !== undefined) shareVerifiedJwt(ctx, verified);
  const result = await jwtLogout.rewrite!(p, ctx);
  return { result, ctx };
}

test('schema: defaults, refused fields, redis fields only with their policy', () => {
  const p = prepareWith(jwtLogout, {});
  assert.equal(p.logoutPath, '/logout');
  assert.deepEqual([...p.methods], ['POST']);
  assert.equal(p.ttlWithoutExpMs, 86_400_000);
  assert.equal(p.counters.policy, 'local');
  assert.match(schemaError(jwtLogout.schema, { logout_path: 'logout' })!, /logout_path/);
  assert.match(schemaError(jwtLogout.schema, { logout_methods: ['TRACE'] })!, /logout_methods/);
  assert.match(schemaError(jwtLogout.schema, { ttl_without_exp: 0 })!, /ttl_without_exp/);
  assert.match(schemaError(jwtLogout.schema, { clear_cookie: 'a;b' })!, /clear_cookie/);
  assert.match(schemaError(jwtLogout.schema, { policy: 'redis' })!, /redis_host/);
  assert.throws(() => prepareWith(jwtLogout, { redis_host: '127.0.0.1' }), /redis_host is not a field of policy "local"/);
  assert.equal(prepareWith(jwtLogout, { policy: 'redis', redis_host: '127.0.0.1' }).counters.target?.policy, 'redis');
});

test('the revocation key: by jti scoped to the consumer, else by the token; never the token or jti in clear', () => {
  const a = revocationKey('jack', { token: 't1', claims: { jti: 'id-1' } });
  assert.equal(a, revocationKey('jack', { token: 't2', claims: { jti: 'id-1' } }), 'the same jti, another token text');
  assert.notEqual(a, revocationKey('rose', { token: 't1', claims: { jti: 'id-1' } }), 'another consumer\'s jti');
  assert.notEqual(revocationKey('jack', { token: 't1', claims: {} }), revocationKey('jack', { token: 't2', claims: {} }));
  assert.match(a, /^jwt-logout:[A-Za-z0-9_-]{43}$/);
});

test('logout revokes the verified token until it expires; later requests with it get 401, other tokens pass', async () => {
  const store = new LocalCounterStore();
  setCounterStore(store);
  const token = jwt({ jti: 'id-1' });
  assert.equal((await run({}, { uri: '/api/x' }, token)).result, undefined);
  const out = await run({ clear_cookie: 'jwt' }, { method: 'POST', uri: '/api/logout' }, token);
  assert.equal(out.result?.status, 200);
  assert.deepEqual(out.result?.body, { message: 'logged out' });
  assert.equal(out.result?.headers?.['Set-Cookie'], 'jwt=; Max-Age=0; Path=/; HttpOnly');
  assert.equal(out.ctx.setVars.get('jwt_logout_result'), 'logged_out');
  const ttl = store.table.markLeft(revocationKey('jack', token));
  assert.ok(ttl > 59_000 && ttl <= 60_000, `revoked for the token's remaining life (${ttl} ms)`);

  const again = await run({}, { uri: '/api/x' }, jwt({ jti: 'id-1' }, undefined, 'other.text.same-jti'));
  assert.equal(again.result?.status, 401);
  assert.deepEqual(again.result?.body, { message: 'JWT token has been revoked' });
  assert.match(again.result!.headers!['WWW-Authenticate']!, /^Bearer error="invalid_token"/);
  assert.equal(again.ctx.setVars.get('jwt_logout_result'), 'revoked');
  assert.equal((await run({}, { method: 'POST', uri: '/logout' }, token)).result?.status, 401, 'logging out twice');
  assert.equal((await run({}, { uri: '/api/x' }, jwt({ jti: 'id-1' }), 'rose')).result, undefined, 'another consumer\'s jti');
  assert.equal((await run({}, { uri: '/api/x' }, jwt({ jti: 'id-2' }))).result, undefined);
});

test('a token without jti is revoked by its hash; without exp for ttl_without_exp; an expired one is not stored', async () => {
  const store = new LocalCounterStore();
  setCounterStore(store);
  const noJti = jwt({}, Date.now() + 30_000, 'a.b.c');
  await run({}, { method: 'POST', uri: '/logout' }, noJti);
  assert.equal((await run({}, { uri: '/x' }, noJti)).result?.status, 401);
  assert.equal((await run({}, { uri: '/x' }, jwt({}, Date.now() + 30_000, 'a.b.d'))).result, undefined);

  const noExp = jwt({ jti: 'forever' }, undefined);
  noExp.validUntilMs = undefined;
  await run({ ttl_without_exp: 120 }, { method: 'POST', uri: '/logout' }, noExp);
  const left = store.table.markLeft(revocationKey('jack', noExp));
  assert.ok(left > 119_000 && left <= 120_000, String(left));

  const expired = jwt({ jti: 'gone' }, Date.now() - 1);
  assert.equal((await run({}, { method: 'POST', uri: '/logout' }, expired)).result?.status, 200);
  assert.equal(store.table.markLeft(revocationKey('jack', expired)), 0);
});

test('only logout_methods log out; without a verified token the logout path is 401 and other requests pass', async () => {
  setCounterStore(new LocalCounterStore());
  const token = jwt({ jti: 'm' });
  assert.equal((await run({}, { method: 'GET', uri: '/logout' }, token)).result, undefined, 'GET is not a logout method by default');
  assert.equal((await run({ logout_methods: ['GET'] }, { method: 'GET', uri: '/logout' }, token)).result?.status, 200);
  const none = await run({}, { method: 'POST', uri: '/logout' }, undefined);
  assert.equal(none.result?.status, 401);
  assert.equal(none.ctx.setVars.get('jwt_logout_result'), 'no_token');
  assert.equal((await run({}, { uri: '/x' }, undefined)).result, undefined);
});

test('a revocation list that fails: 503, or through with allow_degradation; a logout is never reported done', async () => {
  const failing = new LocalCounterStore() as CounterStore & KeyMarks;
  failing.isMarked = () => Promise.reject(new Error('down'));
  setCounterStore(failing);
  assert.equal((await run({}, { uri: '/x' }, jwt({ jti: 'f' }))).result?.status, 503);
  assert.equal((await run({ allow_degradation: true }, { uri: '/x' }, jwt({ jti: 'f' }))).result, undefined);
  failing.isMarked = () => Promise.resolve(false);
  failing.mark = () => Promise.reject(new Error('down'));
  assert.equal((await run({ allow_degradation: true }, { method: 'POST', uri: '/logout' }, jwt({ jti: 'f' }))).result?.status, 503);
});
