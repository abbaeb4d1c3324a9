import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyPair, SignJWT } from 'jose';
import { eventually, startGateway, startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import { withPluginRoutes } from '../../helpers/plugin-admin.js';
import { get } from '../../helpers/http.js';
import { CookieJar, loginAtProvider, startOidcProvider, TEST_ACCOUNT, type TestOidcProvider } from '../../helpers/oidc-provider.js';
import type { TestUpstream } from '../../fixtures/upstream.js';

// A real OpenID provider (oidc-provider) on loopback and the real gateway: bearer tokens
// checked against the provider's key set or by its introspection endpoint, and the whole
// authorization code flow of a browser (cookies kept by hand), refresh and logout.
let op: TestOidcProvider;
let gw: Gateway;
let up: TestUpstream;
const CLIENT = { client_id: 'gatehouse', client_secret: 'gatehouse-client-secret' };
const SESSION = { secret: 'a-session-secret-of-32-characters' };
const browser = new CookieJar();
let accessToken: string;
// A forward proxy on loopback (proxy_opts): absolute-form requests, relayed as they are.
const proxied: { method: string; url: string; auth: string | undefined }[] = [];
let proxy: http.Server;
let proxyUrl: string;

async function startProxy(): Promise<void> {
  proxy = http.createServer((req, res) => {
    proxied.push({ method: req.method!, url: req.url!, auth: req.headers['proxy-authorization'] });
    const { 'proxy-authorization': _a, ...headers } = req.headers;
    const upstream = http.request(req.url!, { method: req.method, headers }, (r) => { res.writeHead(r.statusCode!, r.headers); r.pipe(res); });
    upstream.on('error', () => { res.statusCode = 502; res.end(); });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
}

const decode = (b64: unknown): Record<string, unknown> => JSON.parse(Buffer.from(String(b64), 'base64').toString()) as Record<string, unknown>;
const lastSeen = (): Record<string, string | string[] | undefined> => up.seen.at(-1)!.headers;

before(async () => {
  op = await startOidcProvider();
  await startProxy();
  const base = { ...CLIENT, discovery: op.discoveryUrl };
  ({ gw, up } = await startWithUpstream((upstream) => ({
    routes: [
      { id: 'jwks', uri: '/jwks/*', upstream, plugins: { 'openid-connect': { client_id: 'gatehouse', discovery: op.discoveryUrl, bearer_only: true, use_jwks: true } } },
      { id: 'pubkey', uri: '/pubkey/*', upstream, plugins: { 'openid-connect': { client_id: 'gatehouse', discovery: op.discoveryUrl, bearer_only: true,
        public_key: op.publicKeyPem, claim_validator: { issuer: { valid_issuers: [op.issuer] }, audience: { match_with_client_id: true } } } } },
      { id: 'scopes', uri: '/scopes/*', upstream, plugins: { 'openid-connect': { ...base, bearer_only: true, use_jwks: true, required_scopes: ['admin'] } } },
      { id: 'introspect', uri: '/introspect/*', upstream, plugins: { 'openid-connect': { ...base, bearer_only: true } } },
      // Its own discovery URL (a query the provider ignores), so that the cached document is not the other routes'.
      { id: 'proxied', uri: '/proxied/*', upstream, plugins: { 'openid-connect': { ...base, discovery: `${op.discoveryUrl}?via=proxy`, bearer_only: true,
        proxy_opts: { http_proxy: proxyUrl, http_proxy_authorization: 'Basic cHJveHk6cGFzcw==', no_proxy: 'example.test' } } } },
      { id: 'app', uri: '/app/*', upstream, plugins: {
        'openid-connect': { ...base, scope: 'openid email profile', use_pkce: true, redirect_uri: '/app/callback', session: SESSION, logout_path: '/app/logout',
          post_logout_redirect_uri: 'http://127.0.0.1/bye', set_refresh_token_header: true },
        'file-logger': { path: 'oidc.log', log_format: { uri: '$request_uri', outcome: '$openid_connect_outcome', sub: '$openid_connect_sub' } },
      } },
      { id: 'renew', uri: '/renew/*', upstream, plugins: { 'openid-connect': { ...base, session: SESSION, access_token_expires_leeway: 100000 } } },
      { id: 'scoped-email', uri: '/scoped-email/*', upstream, plugins: { 'openid-connect': { ...base, session: SESSION, required_scopes: ['email'] } } },
      { id: 'scoped-admin', uri: '/scoped-admin/*', upstream, plugins: { 'openid-connect': { ...base, session: SESSION, required_scopes: ['admin'] } } },
      { id: 'deny', uri: '/deny/*', upstream, plugins: { 'openid-connect': { ...base, session: SESSION, unauth_action: 'deny' } } },
      { id: 'pass', uri: '/pass/*', upstream, plugins: { 'openid-connect': { ...base, session: SESSION, unauth_action: 'pass' } } },
      { id: 'down', uri: '/down/*', upstream, plugins: { 'openid-connect': { ...base, discovery: 'http://127.0.0.1:1/.well-known/openid-configuration', session: SESSION } } },
    ],
  }), { extra: { log_dir: '.' } }));
  op.configure([{ ...CLIENT, redirect_uris: [`${gw.url}/app/callback`], post_logout_redirect_uris: ['http://127.0.0.1/bye'] }]);
});

after(async () => {
  await stopWithUpstream(gw, up);
  await op?.close();
  proxy?.closeAllConnections();
  await new Promise((resolve) => proxy?.close(resolve));
});

test('bearer_only + use_jwks: a token signed by the provider passes; expired, foreign, tampered ones get 401', async () => {
  const token = await op.sign({ sub: TEST_ACCOUNT, aud: 'gatehouse', scope: 'openid' });
  const ok = await get(gw.url + '/jwks/x', { headers: { authorization: `Bearer ${token}`, 'x-userinfo': 'forged' } });
  assert.equal(ok.status, 200, ok.body);
  assert.equal(lastSeen()['x-access-token'], token);
  assert.equal(decode(lastSeen()['x-userinfo']).sub, TEST_ACCOUNT);

  const expired = await op.sign({ sub: TEST_ACCOUNT }, { expiresIn: Math.floor(Date.now() / 1000) - 60 });
  const { privateKey: foreignKey } = await generateKeyPair('RS256');
  const foreign = await new SignJWT({ iss: op.issuer, sub: 'mallory' }).setProtectedHeader({ alg: 'RS256', kid: 'test-signing-key' })
    .setExpirationTime('10m').sign(foreignKey);
  const [h, , s] = token.split('.');
  const tampered = `${h}.${Buffer.from(JSON.stringify({ iss: op.issuer, sub: 'mallory', exp: 9999999999 })).toString('base64url')}.${s}`;
  const otherIssuer = await op.sign({ sub: TEST_ACCOUNT, iss: 'http://elsewhere.example' });
  for (const bad of [expired, foreign, tampered, otherIssuer, 'not-a-jwt']) {
    const r = await get(gw.url + '/jwks/x', { headers: { authorization: `Bearer ${bad}` } });
    assert.equal(r.status, 401, bad);
    assert.match(String(r.headers['www-authenticate']), /^Bearer realm="apisix", error="invalid_token"/);
  }
  const none = await get(gw.url + '/jwks/x');
  assert.equal(none.status, 401);
  assert.equal(none.headers['www-authenticate'], 'Bearer realm="apisix"');
});

test('bearer_only + public_key: checked locally, with valid_issuers and the audience matched with client_id', async () => {
  const call = async (token: string) => get(gw.url + '/pubkey/x', { headers: { authorization: `Bearer ${token}` } });
  assert.equal((await call(await op.sign({ sub: TEST_ACCOUNT, aud: ['other', 'gatehouse'] }))).status, 200);
  const wrongAudience = await call(await op.sign({ sub: TEST_ACCOUNT, aud: 'other' }));
  assert.equal(wrongAudience.status, 403);
  assert.deepEqual(JSON.parse(wrongAudience.body), { error: 'mismatched audience' });
  assert.equal((await call(await op.sign({ sub: TEST_ACCOUNT }))).status, 403, 'no audience at all');
  const { privateKey } = await generateKeyPair('RS256');
  assert.equal((await call(await new SignJWT({ iss: op.issuer, aud: 'gatehouse' }).setProtectedHeader({ alg: 'RS256' }).sign(privateKey))).status, 401);
});

test('the key set is fetched once and cached', async () => {
  const before = op.hits.get('/jwks') ?? 0;
  for (let i = 0; i < 3; i++) {
    const token = await op.sign({ sub: `u${i}` });
    assert.equal((await get(gw.url + '/jwks/x', { headers: { authorization: `Bearer ${token}` } })).status, 200);
  }
  assert.equal(op.hits.get('/jwks') ?? 0, before, 'no new fetch for known keys');
});

test('required_scopes: a valid token without them gets 403', async () => {
  const token = await op.sign({ sub: TEST_ACCOUNT, scope: 'openid' });
  const r = await get(gw.url + '/scopes/x', { headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.status, 403);
  assert.deepEqual(JSON.parse(r.body), { error: 'required scopes admin not present' });
  const admin = await op.sign({ sub: TEST_ACCOUNT, scope: 'openid admin' });
  assert.equal((await get(gw.url + '/scopes/x', { headers: { authorization: `Bearer ${admin}` } })).status, 200);
});

test('authorization code flow: 302 to the provider, login, callback, session cookie, tokens upstream', async () => {
  const first = await browser.fetch(gw.url + '/app/page?x=1');
  assert.equal(first.status, 302);
  const authorize = new URL(first.headers.get('location')!);
  assert.equal(authorize.origin, op.issuer);
  for (const p of ['state', 'nonce', 'code_challenge']) assert.ok(authorize.searchParams.get(p), p);
  assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(authorize.searchParams.get('redirect_uri'), `${gw.url}/app/callback`);

  const callback = await loginAtProvider(browser, authorize.toString(), op.issuer);
  assert.ok(callback.startsWith(`${gw.url}/app/callback?`), callback);
  const back = await browser.fetch(callback);
  assert.equal(back.status, 302, await back.text());
  assert.equal(back.headers.get('location'), '/app/page?x=1');
  assert.match(back.headers.get('set-cookie')!, /^session=[\w-]+; Path=\/; Max-Age=\d+; SameSite=Lax; HttpOnly$/);

  const page = await browser.fetch(gw.url + '/app/page?x=1');
  assert.equal(page.status, 200);
  const seen = lastSeen();
  accessToken = String(seen['x-access-token']);
  assert.ok(accessToken.length > 10);
  assert.equal(decode(seen['x-userinfo']).email, `${TEST_ACCOUNT}@example.test`);
  assert.equal(decode(seen['x-id-token']).sub, TEST_ACCOUNT);
  assert.ok(seen['x-refresh-token'], 'set_refresh_token_header');
});

test('introspection (RFC 7662): the provider\'s access token passes, a made-up one gets 401', async () => {
  const ok = await get(gw.url + '/introspect/x', { headers: { authorization: `Bearer ${accessToken}` } });
  assert.equal(ok.status, 200, ok.body);
  const info = decode(lastSeen()['x-userinfo']);
  assert.equal(info.active, true);
  assert.equal(info.sub, TEST_ACCOUNT);
  const bad = await get(gw.url + '/introspect/x', { headers: { authorization: 'Bearer made-up' } });
  assert.equal(bad.status, 401);
  assert.match(String(bad.headers['www-authenticate']), /token is not active/);
});

test('proxy_opts: discovery and introspection go through the HTTP proxy with its authorization', async () => {
  const r = await get(gw.url + '/proxied/x', { headers: { authorization: `Bearer ${accessToken}` } });
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(proxied.map((p) => [p.method, p.url]), [
    ['GET', `${op.discoveryUrl}?via=proxy`],
    ['POST', `${op.issuer}/token/introspection`],
  ]);
  assert.ok(proxied.every((p) => p.auth === 'Basic cHJveHk6cGFzcw=='));
});

test('an expired access token is renewed with the refresh token, the new session cookie set', async () => {
  const r = await browser.fetch(gw.url + '/renew/x');
  assert.equal(r.status, 200);
  const renewed = String(lastSeen()['x-access-token']);
  assert.notEqual(renewed, accessToken);
  assert.match(r.headers.get('set-cookie') ?? '', /^session=/);
});

test('required_scopes on a session: the scopes the token endpoint granted', async () => {
  assert.equal((await browser.fetch(gw.url + '/scoped-email/x')).status, 200);
  const refused = await browser.fetch(gw.url + '/scoped-admin/x');
  assert.equal(refused.status, 403);
  assert.deepEqual(await refused.json(), { error: 'required scopes admin not present' });
});

test('a callback whose state does not match is refused', async () => {
  const r = await browser.fetch(gw.url + '/app/callback?code=abc&state=forged');
  assert.equal(r.status, 401);
});

test('unauth_action deny answers 401, pass lets the request through without user headers', async () => {
  assert.equal((await get(gw.url + '/deny/x')).status, 401);
  const pass = await get(gw.url + '/pass/x', { headers: { 'x-userinfo': 'forged', 'x-access-token': 'forged' } });
  assert.equal(pass.status, 200);
  assert.equal(lastSeen()['x-userinfo'], undefined);
  assert.equal(lastSeen()['x-access-token'], undefined);
});

test('an unreachable provider gives 503', async () => {
  assert.equal((await get(gw.url + '/down/x')).status, 503);
  await gw.waitForOutput(/openid-connect: the OpenID provider could not be used: failed to fetch the discovery document/);
});

test('logout clears the session and redirects to the provider\'s end_session_endpoint', async () => {
  const r = await browser.fetch(gw.url + '/app/logout');
  assert.equal(r.status, 302);
  const target = new URL(r.headers.get('location')!);
  assert.equal(target.origin, op.issuer);
  assert.ok(target.searchParams.get('id_token_hint'));
  assert.equal(target.searchParams.get('post_logout_redirect_uri'), 'http://127.0.0.1/bye');
  assert.equal(browser.cookies.has('session'), false);
  const atProvider = await browser.fetch(target.toString());
  assert.equal(atProvider.status, 200, 'the provider accepts the logout request');
  assert.equal((await browser.fetch(gw.url + '/app/page')).status, 302, 'logged out: back to the provider');
});

test('log fields and metrics', async () => {
  let entries: { uri: string; outcome: string; sub?: string }[] = [];
  await eventually(async () => {
    const text = await readFile(join(gw.dir, 'oidc.log'), 'utf8').catch(() => '');
    entries = text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { uri: string; outcome: string; sub?: string });
    return entries.some((e) => e.outcome === 'logout');
  });
  const outcomes = entries.map((e) => e.outcome);
  for (const o of ['login', 'callback', 'session', 'logout']) assert.ok(outcomes.includes(o), o);
  assert.equal(entries.find((e) => e.outcome === 'session')!.sub, TEST_ACCOUNT);
  const metrics = (await get(gw.metricsUrl)).body;
  assert.match(metrics, /gatehouse_openid_connect_requests_total\{outcome="login"\} \d+/);
  assert.match(metrics, /gatehouse_openid_connect_provider_calls_total\{endpoint="token",outcome="ok"\} \d+/);
  assert.match(metrics, /gatehouse_jwks_fetches_total\{outcome="ok"\} \d+/);
  assert.doesNotMatch(gw.output(), new RegExp(`${CLIENT.client_secret}|${SESSION.secret}`), 'secrets never logged');
});

test('client_secret and session.secret are masked for Admin API viewers, kept in clear for admins', async () => {
  const adminKeys = [{ name: 'a', key: 'oidc-admin-key-00001', role: 'admin' as const }, { name: 'v', key: 'oidc-viewer-key-0001', role: 'viewer' as const }];
  const writable = await startGateway({ store: 'sqlite', adminKeys });
  const call = (key: string, method = 'GET', body?: unknown) => get(writable.adminUrl + '/routes/oidc', {
    method, headers: { 'X-API-KEY': key, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  try {
    const conf = { ...CLIENT, discovery: op.discoveryUrl, session: SESSION };
    const created = await call('oidc-admin-key-00001', 'PUT', { uri: '/o', upstream: { nodes: { '127.0.0.1:1': 1 } }, plugins: { 'openid-connect': conf } });
    assert.ok(created.status < 300, created.body);
    const viewer = (await call('oidc-viewer-key-0001')).json().value.plugins['openid-connect'];
    assert.equal(viewer.client_secret, '******');
    assert.equal(viewer.session.secret, '******');
    assert.equal(viewer.client_id, 'gatehouse');
    assert.match((await call('oidc-admin-key-00001')).body, new RegExp(CLIENT.client_secret));
    assert.doesNotMatch(writable.output(), new RegExp(`${CLIENT.client_secret}|${SESSION.secret}`), 'never logged');
  } finally {
    await writable.stop();
  }
});

test('bad config is refused through the Admin API with a 400 naming the field', () => withPluginRoutes('openid-connect', async (put) => {
  const base = { ...CLIENT, discovery: op.discoveryUrl, session: SESSION };
  for (const [conf, field] of [
    [{ ...base, discovery: 'ftp://x' }, 'discovery'],
    [{ ...base, unauth_action: 'login' }, 'unauth_action'],
    [{ ...base, session: { secret: 'short' } }, 'session.secret'],
    [{ ...base, timeout: 0 }, 'timeout'],
    [{ ...base, public_key: 'not a key' }, 'public_key'],
    [{ ...base, token_endpoint_auth_method: 'private_key_jwt' }, 'token_endpoint_auth_method'],
  ] as const) {
    const r = await put(conf);
    assert.equal(r.status, 400, r.text);
    assert.match(r.body.error_msg, new RegExp(`property "${field}" validation failed`));
  }
  const { session: _s, ...noSession } = base;
  assert.match((await put(noSession)).body.error_msg, /property "session.secret" is required when "bearer_only" is false/);
  const { client_secret: _c, ...noSecret } = base;
  assert.match((await put(noSecret)).body.error_msg, /property "client_secret" is required/);
  assert.equal((await put({ ...noSecret, use_pkce: true })).status, 201, 'a public client with PKCE needs no secret');
  assert.equal((await put({ client_id: 'x', discovery: op.discoveryUrl, bearer_only: true, use_jwks: true })).status, 201);
  assert.match((await put({ ...base, proxy_opts: { https_proxy: 'https://p:443' } })).body.error_msg, /property "proxy_opts.https_proxy" validation failed/);
  assert.match((await put({ ...base, par: { enabled: true } })).body.error_msg, /additional properties forbidden, found par/);
}));
