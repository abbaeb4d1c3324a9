import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, exportSPKI, generateKeyPair, type CryptoKey } from 'jose';
import jwtAuth, { importConsumerKey } from './jwt-auth.js';
import { verifiedJwt } from './common/verified-jwt.js';
import { consumer, createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';

const enc = new TextEncoder();
const now = (): number => Math.floor(Date.now() / 1000);
const CHALLENGE = { 'WWW-Authenticate': 'Bearer realm="jwt"' };

async function sign(claims: Record<string, unknown>, key: Uint8Array | CryptoKey, alg = 'HS256'): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT' }).sign(key);
}

const rsa = await generateKeyPair('RS256');
const ec = await generateKeyPair('ES256');
const rsaPem = await exportSPKI(rsa.publicKey);

const userHs = consumer('jack', { 'jwt-auth': [jwtAuth, { key: 'user-key', secret: 'my-secret-key' }] });
const userB64 = consumer('b64', { 'jwt-auth': [jwtAuth, { key: 'b64-key', secret: Buffer.from('raw secret bytes').toString('base64'), base64_secret: true, algorithm: 'HS512' }] });
const userRsa = consumer('rsa', { 'jwt-auth': [jwtAuth, { key: 'rsa-key', algorithm: 'RS256', public_key: rsaPem }] });
const userEc = consumer('ec', { 'jwt-auth': [jwtAuth, { key: 'ec-key', algorithm: 'ES256', public_key: await exportSPKI(ec.publicKey) }] });
const userGrace = consumer('grace', { 'jwt-auth': [jwtAuth, { key: 'grace-key', secret: 's', lifetime_grace_period: 60 }] });
const userBroken = consumer('broken', { 'jwt-auth': [jwtAuth, { key: 'broken-key', algorithm: 'RS256', public_key: 'not a pem' }] });
const userCred = consumer('cred', { 'jwt-auth': [jwtAuth, { key: 'cred-key', secret: 'c' }] }, { credential_id: 'c-1' });
const anon = consumer('anon', {});
const consumers = [userHs, userB64, userRsa, userEc, userGrace, userBroken, userCred, anon];

const run = async (conf: Record<string, unknown>, req: Parameters<typeof createTestContext>[0]) => {
  const p = prepareWith(jwtAuth, conf, { consumers });
  const ctx = createTestContext(req);
  const result = await jwtAuth.rewrite!(p, ctx);
  return { result, ctx };
};

test('schema: route defaults and field errors', () => {
  const p = prepareWith(jwtAuth, {});
  assert.equal(p.header, 'authorization');
  assert.equal(p.query, 'jwt');
  assert.equal(p.cookie, 'jwt');
  assert.equal(p.keyClaim, 'key');
  assert.equal(p.hide, false);
  assert.equal(p.storeInCtx, false);
  assert.match(schemaError(jwtAuth.schema, { key_claim_name: '' })!, /property "key_claim_name" validation failed/);
  assert.match(schemaError(jwtAuth.schema, { claims_to_verify: ['iat'] })!, /property "claims_to_verify" validation failed/);
  assert.match(schemaError(jwtAuth.schema, { store_in_ctx: 'x' })!, /property "store_in_ctx"/);
  // the seed's example: only _meta (the runtime injects it), so the schema itself accepts {}
  assert.equal(schemaError(jwtAuth.schema, {}), undefined);
});

test('consumer schema: key required, HS needs secret, others need public_key, defaults', () => {
  const cs = jwtAuth.consumerSchema!;
  assert.equal(schemaError(cs, { secret: 'x' }), 'property "key" is required');
  assert.match(schemaError(cs, { key: 'k' })!, /\["secret"\] or \["public_key"\]/);
  assert.match(schemaError(cs, { key: 'k', algorithm: 'RS256', secret: 'x' })!, /\["public_key"\]/);
  assert.match(schemaError(cs, { key: 'k', secret: 'x', algorithm: 'none' })!, /property "algorithm" validation failed/);
  assert.match(schemaError(cs, { key: 'k', secret: 'x', lifetime_grace_period: -1 })!, /property "lifetime_grace_period"/);
  assert.equal(schemaError(cs, { key: 'k', secret: 'x' }), undefined);
  assert.equal(schemaError(cs, { key: 'k', algorithm: 'ES256', public_key: 'pem' }), undefined);
  assert.deepEqual(userHs.plugins['jwt-auth'], {
    key: 'user-key', secret: 'my-secret-key', algorithm: 'HS256', base64_secret: false, lifetime_grace_period: 0,
  });
});

test('consumer exp is refused, naming the field: no token is issued, so it could have no effect', () => {
  assert.equal(schemaError(jwtAuth.consumerSchema!, { key: 'k', secret: 'x', exp: 86400 }),
    'additional properties forbidden, found exp');
});

test('consumer base64_secret with a secret that is no base64 is refused when written, without quoting the secret', () => {
  const cs = jwtAuth.consumerSchema!;
  assert.equal(schemaError(cs, { key: 'k', secret: 'not base64!', base64_secret: true }),
    'property "secret" validation failed: object matches none of the required');
  assert.equal(schemaError(cs, { key: 'k', secret: Buffer.from('raw').toString('base64'), base64_secret: true }), undefined);
  assert.equal(schemaError(cs, { key: 'k', secret: '$env://JWT_SECRET', base64_secret: true }), undefined);
  assert.equal(schemaError(cs, { key: 'k', secret: 'not base64!' }), undefined);
});

test('importConsumerKey reports unusable keys', () => {
  assert.equal(importConsumerKey({ key: 'k', secret: 'not base64!', base64_secret: true })[1],
    'base64_secret required but the secret is not in base64 format');
  assert.equal(importConsumerKey({ key: 'k', algorithm: 'HS256' })[1], 'property "secret" is required when using HS based algorithms');
  assert.equal(importConsumerKey({ key: 'k', algorithm: 'RS256' })[1], 'missing valid public key');
  assert.match(importConsumerKey({ key: 'k', algorithm: 'RS256', public_key: 'x' })[1]!, /^invalid key/);
  assert.equal(importConsumerKey({ key: 'k', algorithm: 'RS256', public_key: rsaPem })[1], undefined);
});

test('HS256 token in the Authorization header, with or without Bearer', async () => {
  const token = await sign({ key: 'user-key', exp: now() + 60 }, enc.encode('my-secret-key'));
  for (const h of [token, `Bearer ${token}`, `bearer ${token}`]) {
    const { result, ctx } = await run({}, { headers: { authorization: h } });
    assert.equal(result, undefined, h);
    assert.equal(ctx.attached[0], userHs);
    assert.equal(ctx.request.headers.authorization, h, 'kept without hide_credentials');
  }
});

test('token from the query and from the cookie; custom names', async () => {
  const token = await sign({ key: 'user-key' }, enc.encode('my-secret-key'));
  assert.equal((await run({}, { uri: `/?jwt=${token}` })).result, undefined);
  assert.equal((await run({}, { headers: { cookie: `a=1; jwt=${token}` } })).result, undefined);
  assert.equal((await run({ header: 'X-Token', query: 't', cookie: 'c' }, { headers: { 'x-token': token } })).result, undefined);
  assert.equal((await run({ header: 'X-Token', query: 't', cookie: 'c' }, { uri: `/?t=${token}` })).result, undefined);
  assert.equal((await run({ header: 'X-Token', query: 't', cookie: 'c' }, { headers: { cookie: `c=${token}` } })).result, undefined);
  const r = await run({ header: 'X-Token', query: 't', cookie: 'c' }, { headers: { authorization: token } });
  assert.deepEqual(r.result, { status: 401, body: { message: 'Missing JWT token in request' }, headers: CHALLENGE });
});

test('hide_credentials removes the header, the query argument or the cookie', async () => {
  const token = await sign({ key: 'user-key' }, enc.encode('my-secret-key'));
  const h = await run({ hide_credentials: true }, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(h.ctx.request.headers.authorization, undefined);
  const q = await run({ hide_credentials: true }, { uri: `/p?a=1&jwt=${token}` });
  assert.equal(q.ctx.request.upstreamUri, '/p?a=1');
  const c = await run({ hide_credentials: true }, { headers: { cookie: `a=1; jwt=${token}; b=2` } });
  assert.equal(c.ctx.request.headers.cookie, 'a=1; b=2');
  const only = await run({ hide_credentials: true }, { headers: { cookie: `jwt=${token}` } });
  assert.equal(only.ctx.request.headers.cookie, undefined);
});

test('rejections carry APISIX messages and the Bearer challenge', async () => {
  const fail = (message: string) => ({ status: 401, body: { message }, headers: CHALLENGE });
  assert.deepEqual((await run({}, {})).result, fail('Missing JWT token in request'));
  assert.deepEqual((await run({}, { headers: { authorization: 'abc.def' } })).result, fail('JWT token invalid'));
  const noKey = await sign({ sub: 'x' }, enc.encode('my-secret-key'));
  assert.deepEqual((await run({}, { headers: { authorization: noKey } })).result, fail('missing user key in JWT token'));
  const unknown = await sign({ key: 'who' }, enc.encode('my-secret-key'));
  assert.deepEqual((await run({}, { headers: { authorization: unknown } })).result, fail('Invalid user key in JWT token'));
  const badSig = await sign({ key: 'user-key' }, enc.encode('wrong-secret'));
  assert.deepEqual((await run({}, { headers: { authorization: badSig } })).result, fail('failed to verify jwt'));
  const expired = await sign({ key: 'user-key', exp: now() - 10 }, enc.encode('my-secret-key'));
  assert.deepEqual((await run({}, { headers: { authorization: expired } })).result, fail('failed to verify jwt'));
  const early = await sign({ key: 'user-key', nbf: now() + 100 }, enc.encode('my-secret-key'));
  assert.deepEqual((await run({}, { headers: { authorization: early } })).result, fail('failed to verify jwt'));
  const broken = await sign({ key: 'broken-key' }, rsa.privateKey, 'RS256');
  assert.deepEqual((await run({}, { headers: { authorization: broken } })).result, fail('failed to verify jwt'));
});

test('the token alg must be the consumer algorithm', async () => {
  const hs384 = await sign({ key: 'user-key' }, enc.encode('my-secret-key'), 'HS384');
  assert.equal((await run({}, { headers: { authorization: hs384 } })).result?.status, 401);
  // an HS token for an RSA consumer, signed with the public key's PEM: the classic confusion attack
  const confused = await sign({ key: 'rsa-key' }, enc.encode(rsaPem), 'HS256');
  assert.equal((await run({}, { headers: { authorization: confused } })).result?.status, 401);
});

test('RS256, ES256 and base64 HS512 consumers', async () => {
  const r = await run({}, { headers: { authorization: await sign({ key: 'rsa-key' }, rsa.privateKey, 'RS256') } });
  assert.equal(r.result, undefined);
  assert.equal(r.ctx.attached[0], userRsa);
  const e = await run({}, { headers: { authorization: await sign({ key: 'ec-key' }, ec.privateKey, 'ES256') } });
  assert.equal(e.ctx.attached[0], userEc);
  const b = await run({}, { headers: { authorization: await sign({ key: 'b64-key' }, enc.encode('raw secret bytes'), 'HS512') } });
  assert.equal(b.ctx.attached[0], userB64);
});

test('lifetime_grace_period tolerates a recently expired token', async () => {
  const t = await sign({ key: 'grace-key', exp: now() - 30 }, enc.encode('s'));
  assert.equal((await run({}, { headers: { authorization: t } })).result, undefined);
  const old = await sign({ key: 'grace-key', exp: now() - 120 }, enc.encode('s'));
  assert.equal((await run({}, { headers: { authorization: old } })).result?.status, 401);
});

test('the verified token is handed to later plugins (jwt-logout), valid until exp plus the grace period', async () => {
  const exp = now() + 30;
  const t = await sign({ key: 'grace-key', exp, jti: 'j-1' }, enc.encode('s'));
  const { ctx } = await run({ hide_credentials: true }, { headers: { authorization: `Bearer ${t}` } });
  assert.deepEqual(verifiedJwt(ctx), { token: t, claims: { key: 'grace-key', exp, jti: 'j-1' }, validUntilMs: (exp + 60) * 1000 });
  const noExp = await sign({ key: 'user-key' }, enc.encode('my-secret-key'));
  assert.equal(verifiedJwt((await run({}, { headers: { authorization: noExp } })).ctx)?.validUntilMs, undefined);
  assert.equal(verifiedJwt((await run({}, { headers: { authorization: 'Bearer x.y.z' } })).ctx), undefined);
});

test('claims_to_verify makes the listed claims required', async () => {
  const noExp = await sign({ key: 'user-key' }, enc.encode('my-secret-key'));
  assert.equal((await run({ claims_to_verify: ['exp'] }, { headers: { authorization: noExp } })).result?.status, 401);
  const withExp = await sign({ key: 'user-key', exp: now() + 60 }, enc.encode('my-secret-key'));
  assert.equal((await run({ claims_to_verify: ['exp'] }, { headers: { authorization: withExp } })).result, undefined);
});

test('key_claim_name, store_in_ctx and credentials', async () => {
  const t = await sign({ iss: 'user-key', role: 'admin' }, enc.encode('my-secret-key'));
  const r = await run({ key_claim_name: 'iss', store_in_ctx: true }, { headers: { authorization: t } });
  assert.equal(r.result, undefined);
  assert.deepEqual(r.ctx.shared.get('jwt_auth_payload'), { iss: 'user-key', role: 'admin' });
  const none = await run({}, { headers: { authorization: await sign({ key: 'user-key' }, enc.encode('my-secret-key')) } });
  assert.equal(none.ctx.shared.has('jwt_auth_payload'), false);
  const c = await run({}, { headers: { authorization: await sign({ key: 'cred-key' }, enc.encode('c')) } });
  assert.equal(c.ctx.attached[0]!.credential_id, 'c-1');
});

test('anonymous_consumer and realm', async () => {
  const a = await run({ anonymous_consumer: 'anon' }, {});
  assert.equal(a.result, undefined);
  assert.equal(a.ctx.attached[0], anon);
  const g = await run({ anonymous_consumer: 'ghost', realm: 'api' }, {});
  assert.deepEqual(g.result, { status: 401, body: { message: 'Invalid user authorization' }, headers: { 'WWW-Authenticate': 'Bearer realm="api"' } });
});

test('consumer jwks_uri (Gatehouse extension): an asymmetric algorithm with a key set instead of public_key', () => {
  const cs = jwtAuth.consumerSchema!;
  assert.equal(schemaError(cs, { key: 'k', algorithm: 'RS256', jwks_uri: 'https://idp.example/jwks' }), undefined);
  assert.equal(schemaError(cs, { key: 'k', algorithm: 'EdDSA', jwks_uri: 'http://127.0.0.1:1/jwks' }), undefined);
  // HS256 (the default) keys cannot come from a key set.
  assert.match(schemaError(cs, { key: 'k', jwks_uri: 'https://idp.example/jwks' })!, /\["secret"\] or \["public_key"\] or \["jwks_uri"\]/);
  assert.match(schemaError(cs, { key: 'k', algorithm: 'RS256', jwks_uri: 'file:///etc/keys' })!, /property "jwks_uri" validation failed/);
  assert.deepEqual(importConsumerKey({ key: 'k', algorithm: 'RS256', jwks_uri: 'https://idp.example/jwks' }), [undefined, undefined]);
});
