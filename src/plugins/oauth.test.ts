import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import oauth from './oauth.js';
import { verifiedJwt } from './common/verified-jwt.js';
import { consumer, createTestContext, prepareWith, schemaError, type TestContextOptions } from '../../test/helpers/plugin-context.js';

const CONSUMERS = [
  { name: 'app1', client_id: 'id-001', client_secret: 'secret-001' },
  { name: 'app2', client_id: 'id-002', client_secret: 'secret-002' },
];
const base = { consumers: CONSUMERS };
const now = (): number => Math.floor(Date.now() / 1000);

async function run(conf: Record<string, unknown>, req: TestContextOptions & { body?: string }) {
  const p = prepareWith(oauth, conf, { consumers: [consumer('app1', {}, { labels: { team: 'a' } })] });
  const ctx = createTestContext({ routeId: 'r1', host: 'api.example', ...req });
  if (req.body !== undefined) ctx.request.setBody(req.body);
  const result = await oauth.rewrite!(p, ctx);
  return { result, ctx };
}

async function tokenFor(conf: Record<string, unknown> = base, query = 'grant_type=client_credentials&client_id=id-001&client_secret=secret-001',
  routeId = 'r1'): Promise<string> {
  const { result } = await run(conf, { uri: `/api/oauth2/token?${query}`, routeId });
  assert.equal(result?.status, 200, String(result?.body));
  return (result!.body as { access_token: string }).access_token;
}

test('schema: Higress defaults, required consumers, field errors name the field', () => {
  const p = prepareWith(oauth, base);
  assert.equal(p.issuer, 'Higress-Gateway');
  assert.equal(p.authPath, '/oauth2/token');
  assert.equal(p.global, true);
  assert.equal(p.header, 'authorization');
  assert.equal(p.ttl, 7200);
  assert.equal(p.keepToken, true);
  assert.equal(p.skew, 60);
  assert.equal(prepareWith(oauth, { ...base, auth_path: 'token' }).authPath, '/token');
  assert.match(schemaError(oauth.schema, {})!, /consumers/);
  assert.match(schemaError(oauth.schema, { consumers: [{ name: 'a', client_id: 'b' }] })!, /client_secret/);
  assert.match(schemaError(oauth.schema, { ...base, token_ttl: 0 })!, /property "token_ttl" validation failed/);
  assert.match(schemaError(oauth.schema, { ...base, auth_header_name: 'x' })!, /auth_header_name/);
  assert.throws(() => prepareWith(oauth, { consumers: [...CONSUMERS, { name: 'app1', client_id: 'x', client_secret: 'y' }] }),
    /consumers\[2\]\.name/);
  assert.throws(() => prepareWith(oauth, { consumers: [...CONSUMERS, { name: 'x', client_id: 'id-001', client_secret: 'y' }] }),
    /consumers\[2\]\.client_id/);
});

test('token endpoint (GET): an RFC 9068 JWT signed HS256 with the client secret, Higress claims', async () => {
  const { result, ctx } = await run(base, { uri: '/api/oauth2/token?grant_type=client_credentials&client_id=id-001&client_secret=secret-001&scope=read%20write' });
  assert.equal(result?.status, 200);
  const body = result!.body as { token_type: string; access_token: string; expires_in: number };
  assert.equal(body.token_type, 'bearer');
  assert.equal(body.expires_in, 7200);
  assert.deepEqual(decodeProtectedHeader(body.access_token), { alg: 'HS256', typ: 'application/at+jwt' });
  const claims = decodeJwt(body.access_token);
  assert.equal(claims.iss, 'Higress-Gateway');
  assert.equal(claims.sub, 'app1');
  assert.equal(claims.aud, 'default');
  assert.equal(claims.client_id, 'id-001');
  assert.equal(claims.scope, 'read write');
  assert.equal(claims.exp! - claims.iat!, 7200);
  assert.match(String(claims.jti), /^[0-9a-f-]{36}$/);
  assert.equal(ctx.setVars.get('oauth_result'), 'token_issued');
  assert.equal(ctx.attached.length, 0, 'the token endpoint identifies nobody');
  assert.equal(ctx.var('request_uri'), '/api/oauth2/token?grant_type=client_credentials&client_id=id-001&client_secret=******&scope=read%20write',
    'access logs see the secret masked');
  assert.equal(ctx.var('arg_client_secret'), '******');
  assert.match(String(ctx.var('request')), /^GET \/api\/oauth2\/token\?.*client_secret=\*{6}&scope/);
});

test('token endpoint (POST form, and client_secret_basic)', async () => {
  const form = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' };
  let r = await run(base, { method: 'POST', uri: '/oauth2/token', headers: form, body: 'grant_type=client_credentials&client_id=id-002&client_secret=secret-002' });
  assert.equal(r.result?.status, 200);
  assert.equal(decodeJwt((r.result!.body as { access_token: string }).access_token).sub, 'app2');
  const basic = 'Basic ' + Buffer.from('id-001:secret-001').toString('base64');
  r = await run(base, { method: 'POST', uri: '/oauth2/token', headers: { ...form, authorization: basic }, body: 'grant_type=client_credentials' });
  assert.equal(r.result?.status, 200);
  r = await run(base, { method: 'POST', uri: '/oauth2/token', headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.deepEqual([r.result?.status, r.result?.body], [400, 'Invalid content-type']);
});

test('token endpoint refusals: Higress\'s 400 messages; other methods 405', async () => {
  const cases: [string, number, string][] = [
    ['', 400, 'Authorize parameters are missing'],
    ['?client_id=id-001', 400, 'grant_type is missing'],
    ['?grant_type=password', 400, 'grant_type:password is not support'],
    ['?grant_type=client_credentials', 400, 'client_id is missing'],
    ['?grant_type=client_credentials&client_id=nobody&client_secret=x', 400, 'invalid client_id or client_secret'],
    ['?grant_type=client_credentials&client_id=id-001', 400, 'client_secret is missing'],
    ['?grant_type=client_credentials&client_id=id-001&client_secret=secret-002', 400, 'invalid client_id or client_secret'],
  ];
  for (const [query, status, message] of cases) {
    const { result, ctx } = await run(base, { uri: `/oauth2/token${query}` });
    assert.deepEqual([result?.status, result?.body], [status, message], query);
    assert.equal(ctx.setVars.get('oauth_result'), 'bad_token_request');
  }
  const put = await run(base, { method: 'PUT', uri: '/oauth2/token' });
  assert.equal(put.result?.status, 405);
  assert.equal(put.result?.headers?.Allow, 'GET, POST');
});

test('a valid token lets the request through: X-Mse-Consumer, the gateway consumer attached, the token shared', async () => {
  const token = await tokenFor();
  const { result, ctx } = await run(base, { uri: '/api/x', headers: { authorization: `Bearer ${token}`, 'x-mse-consumer': 'forged' } });
  assert.equal(result, undefined);
  assert.equal(ctx.request.headers['x-mse-consumer'], 'app1');
  assert.equal(ctx.request.headers.authorization, `Bearer ${token}`, 'keep_token defaults to true');
  assert.equal(ctx.attached[0]!.username, 'app1');
  assert.equal(ctx.attached[0]!.labels?.team, 'a', 'the gateway consumer of that name');
  assert.equal(ctx.setVars.get('oauth_result'), 'authenticated');
  assert.equal(ctx.setVars.get('oauth_client_id'), 'id-001');
  const shared = verifiedJwt(ctx)!;
  assert.equal(shared.token, token);
  assert.equal(shared.validUntilMs, ((shared.claims.exp as number) + 60) * 1000);
  // a client with no gateway consumer of its name: one made of the name alone
  const other = await run(base, { uri: '/api/x', headers: { authorization: `Bearer ${await tokenFor(base, 'grant_type=client_credentials&client_id=id-002&client_secret=secret-002')}` } });
  assert.deepEqual(other.ctx.attached[0], { username: 'app2', plugins: {} });
});

test('keep_token false strips the token; auth_header names another header', async () => {
  const conf = { ...base, keep_token: false, auth_header: 'X-Token' };
  const token = await tokenFor(conf);
  const { result, ctx } = await run(conf, { uri: '/x', headers: { 'x-token': `Bearer ${token}` } });
  assert.equal(result, undefined);
  assert.equal(ctx.request.headers['x-token'], undefined);
});

test('bad, expired, foreign or missing tokens: 401 Invalid Jwt token with the Bearer realm of the request URL', async () => {
  const good = await tokenFor();
  const secret = new TextEncoder().encode('secret-001');
  const t = now();
  const claims = { client_id: 'id-001', scope: undefined };
  const forge = (over: Record<string, unknown>, typ = 'application/at+jwt', key = secret) =>
    new SignJWT({ ...claims, iss: 'Higress-Gateway', sub: 'app1', aud: 'default', iat: t, exp: t + 60, ...over })
      .setProtectedHeader({ alg: 'HS256', typ }).sign(key);
  const tokens: [string, string | undefined][] = [
    ['missing', undefined],
    ['not bearer', `Basic ${good}`],
    ['garbage', 'Bearer not.a.jwt'],
    ['tampered', `Bearer ${good.slice(0, -2)}xx`],
    ['expired beyond the skew', `Bearer ${await forge({ iat: t - 600, exp: t - 61 })}`],
    ['issued in the future', `Bearer ${await forge({ iat: t + 600, exp: t + 900 })}`],
    ['other issuer', `Bearer ${await forge({ iss: 'someone' })}`],
    ['sub of another consumer', `Bearer ${await forge({ sub: 'app2' })}`],
    ['plain JWT typ', `Bearer ${await forge({}, 'JWT')}`],
    ['signed with another secret', `Bearer ${await forge({}, undefined, new TextEncoder().encode('secret-002'))}`],
    ['unknown client', `Bearer ${await forge({ client_id: 'nobody' })}`],
    ['aud not a string', `Bearer ${await forge({ aud: ['default'] })}`],
  ];
  for (const [what, value] of tokens) {
    const { result, ctx } = await run(base, { uri: '/api/x?q="1"', headers: value === undefined ? {} : { authorization: value } });
    assert.equal(result?.status, 401, what);
    assert.equal(result?.body, 'Invalid Jwt token', what);
    assert.equal(result?.headers?.['WWW-Authenticate'], 'Bearer realm="http://api.example/api/x?q=%221%22"', what);
    assert.equal(ctx.attached.length, 0, what);
    assert.equal(ctx.setVars.get('oauth_result'), 'invalid_token');
  }
  const expiredWithinSkew = `Bearer ${await forge({ iat: t - 600, exp: t - 30 })}`;
  assert.equal((await run(base, { uri: '/x', headers: { authorization: expiredWithinSkew } })).result, undefined);
});

test('allow and route audiences: a good token of the wrong consumer or route is 403 Access Denied', async () => {
  const token = await tokenFor();
  const allowOther = await run({ ...base, allow: ['app2'] }, { uri: '/x', headers: { authorization: `Bearer ${token}` } });
  assert.deepEqual([allowOther.result?.status, allowOther.result?.body], [403, 'Access Denied']);
  assert.equal(allowOther.ctx.setVars.get('oauth_result'), 'access_denied');
  assert.equal((await run({ ...base, allow: ['app1'] }, { uri: '/x', headers: { authorization: `Bearer ${token}` } })).result, undefined);

  const perRoute = { ...base, global_credentials: false };
  const routeToken = await tokenFor(perRoute, undefined, 'r1');
  assert.equal(decodeJwt(routeToken).aud, 'r1');
  assert.equal((await run(perRoute, { uri: '/x', routeId: 'r1', headers: { authorization: `Bearer ${routeToken}` } })).result, undefined);
  const elsewhere = await run(perRoute, { uri: '/x', routeId: 'r2', headers: { authorization: `Bearer ${routeToken}` } });
  assert.equal(elsewhere.result?.status, 403);
  // a global token (aud "default") is not one of route r1's either
  assert.equal((await run(perRoute, { uri: '/x', routeId: 'r1', headers: { authorization: `Bearer ${token}` } })).result?.status, 403);
});
