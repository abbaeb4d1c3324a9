import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exportSPKI, generateKeyPair } from 'jose';
import oidc from './openid-connect.js';
import { bearerToken, claimsRefusal } from '../oidc/bearer.js';
import { callbackPath, cookieOptions } from '../oidc/code-flow.js';
import { createTestContext, prepareWith } from '../../test/helpers/plugin-context.js';
import { secretPaths } from '../plugin-runtime/secret-fields.js';
import { bypassesProxy } from '../oidc/outbound-proxy.js';

const base = { client_id: 'c', client_secret: 'client-secret', discovery: 'https://idp.example/.well-known/openid-configuration', session: { secret: 'x'.repeat(16) } };

test('defaults as APISIX: scope openid, realm apisix, logout /logout, unauth_action auth, session cookie "session"', () => {
  const p = prepareWith(oidc, base);
  assert.equal(p.conf.scope, 'openid');
  assert.equal(p.challenge, 'Bearer realm="apisix"');
  assert.equal(p.conf.logout_path, '/logout');
  assert.equal(p.conf.unauth_action, 'auth');
  assert.equal(p.client.policy.timeoutMs, 3000);
  assert.deepEqual(p.cookie, { name: 'session', path: '/', domain: undefined, secure: false, httpOnly: true, sameSite: 'Lax' });
  assert.equal(p.checksBearer, false);
});

test('APISIX\'s cross-field rules: session.secret unless bearer_only, client_secret unless PKCE or local verification', () => {
  const { session: _s, ...noSession } = base;
  assert.throws(() => prepareWith(oidc, noSession), /property "session.secret" is required when "bearer_only" is false/);
  const { client_secret: _c, ...noSecret } = base;
  assert.throws(() => prepareWith(oidc, noSecret), /property "client_secret" is required/);
  assert.doesNotThrow(() => prepareWith(oidc, { ...noSecret, use_pkce: true }));
  assert.doesNotThrow(() => prepareWith(oidc, { ...noSecret, bearer_only: true, use_jwks: true }));
  assert.throws(() => prepareWith(oidc, { ...noSecret, bearer_only: true }), /property "client_secret" is required/);
});

test('public_key must be a public key', async () => {
  assert.throws(() => prepareWith(oidc, { ...base, public_key: 'nope' }), /property "public_key" validation failed/);
  const pem = await exportSPKI((await generateKeyPair('RS256')).publicKey);
  assert.ok(prepareWith(oidc, { ...base, public_key: pem }).publicKey);
});

test('client_secret, session.secret and the proxy authorizations are secret fields (masked for viewers)', () => {
  const paths = secretPaths(oidc.schema).map((p) => p.join('.'));
  assert.deepEqual(paths.sort(), ['client_secret', 'proxy_opts.http_proxy_authorization', 'proxy_opts.https_proxy_authorization', 'session.secret']);
});

test('no_proxy: names, subdomains of a domain, and * for every host', () => {
  assert.equal(bypassesProxy('idp.example.test', 'example.test'), true);
  assert.equal(bypassesProxy('IDP.example.test', ' .example.test ,other'), true);
  assert.equal(bypassesProxy('example.test', 'example.test'), true);
  assert.equal(bypassesProxy('badexample.test', 'example.test'), false);
  assert.equal(bypassesProxy('anything', '*'), true);
  assert.equal(bypassesProxy('anything', undefined), false);
});

test('bearerToken: Authorization Bearer (any case), else X-Access-Token', () => {
  assert.equal(bearerToken('Bearer abc', undefined), 'abc');
  assert.equal(bearerToken('bearer abc', 'x'), 'abc');
  assert.equal(bearerToken('Basic abc', 'x'), undefined, 'another scheme is not a bearer token');
  assert.equal(bearerToken('Bearer ', undefined), undefined);
  assert.equal(bearerToken(undefined, 'xyz'), 'xyz');
  assert.equal(bearerToken(undefined, undefined), undefined);
});

test('claimsRefusal: required_scopes and the audience rules', () => {
  const p = (extra: Record<string, unknown>) => prepareWith(oidc, { ...base, ...extra });
  const scoped = p({ required_scopes: ['read', 'write'] });
  assert.equal(claimsRefusal(scoped, { scope: 'read write openid' }), undefined);
  assert.equal(claimsRefusal(scoped, { scope: 'read' }), 'required scopes read, write not present');
  assert.equal(claimsRefusal(scoped, {}), 'required scopes read, write not present');
  const aud = p({ claim_validator: { audience: { match_with_client_id: true } } });
  assert.equal(claimsRefusal(aud, { aud: 'c' }), undefined);
  assert.equal(claimsRefusal(aud, { aud: ['x', 'c'] }), undefined);
  assert.equal(claimsRefusal(aud, { aud: 'other' }), 'mismatched audience');
  assert.equal(claimsRefusal(aud, {}), 'required audience claim not present');
  assert.equal(claimsRefusal(p({ claim_validator: { audience: { required: true, claim: 'azp' } } }), { aud: 'c' }), 'required audience claim not present');
});

test('callbackPath: redirect_uri\'s path, else APISIX\'s <uri>/.apisix/redirect', () => {
  assert.equal(callbackPath(prepareWith(oidc, base), '/app/page'), '/app/page/.apisix/redirect');
  assert.equal(callbackPath(prepareWith(oidc, base), '/app/'), '/app/.apisix/redirect');
  assert.equal(callbackPath(prepareWith(oidc, base), '/app/.apisix/redirect'), '/app/.apisix/redirect');
  assert.equal(callbackPath(prepareWith(oidc, { ...base, redirect_uri: 'https://gw.example/cb?x=1' }), '/any'), '/cb');
  assert.equal(callbackPath(prepareWith(oidc, { ...base, redirect_uri: '/cb' }), '/any'), '/cb');
});

test('the session cookie is Secure over https unless session.cookie_secure says otherwise', () => {
  const over = (scheme: string) => createTestContext({ vars: { scheme } });
  assert.equal(cookieOptions(prepareWith(oidc, base), over('https')).secure, true);
  assert.equal(cookieOptions(prepareWith(oidc, base), over('http')).secure, false);
  const forced = prepareWith(oidc, { ...base, session: { ...base.session, cookie_secure: true } });
  assert.equal(cookieOptions(forced, over('http')).secure, true);
  const off = prepareWith(oidc, { ...base, session: { ...base.session, cookie_secure: false } });
  assert.equal(cookieOptions(off, over('https')).secure, false);
});
