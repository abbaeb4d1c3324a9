// openid-connect: single sign-on with an OpenID provider (APISIX's openid-connect, its
// field names). Bearer tokens (bearer_only, introspection_endpoint, public_key, use_jwks)
// are checked locally or by introspection (src/oidc/bearer.ts); browsers without a token
// go through the authorization code flow and keep a sealed session cookie
// (src/oidc/code-flow.ts, session-cookie.ts); logout_path ends the session at the
// provider too. Upstream gets X-Access-Token (or Authorization), X-ID-Token and
// X-Userinfo (base64 JSON, as APISIX), X-Refresh-Token when asked; a client's own values
// of those headers are always removed. Discovery documents and key sets are cached.
import { createPublicKey } from 'node:crypto';
import { decodeJwt } from 'jose';
import type { PhaseResult, PluginContext } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { counter } from '../observability/metrics.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { bearerToken, checkBearer, scopesRefusal } from '../oidc/bearer.js';
import { accessExpired, callbackPath, CallbackRefused, cookieOptions, finishLogin, idTokenClaims, logout, renew, startLogin } from '../oidc/code-flow.js';
import type { OidcPrepared, OpenIdConnectConf } from '../oidc/prepared.js';
import { sessionCookie, sessionKey, unseal, type SessionData } from '../oidc/session-cookie.js';
import { getCookie, realmSchema } from './common/auth.js';
import { poolFor } from './common/http-client.js';
import { PROXY_OPTS_SCHEMA } from '../oidc/outbound-proxy.js';

/** For access logs: how the request fared (see the docs page), and the user's `sub`. */
registerVariable('openid_connect_outcome');
registerVariable('openid_connect_sub');

const outcomes = counter('gatehouse_openid_connect_requests_total',
  'Requests openid-connect handled, by outcome: bearer, bearer_refused, session, renewed, login, callback, callback_refused, logout, denied, passed, provider_error',
  ['outcome']);

const OUTPUT_HEADERS = ['x-access-token', 'x-id-token', 'x-raw-id-token', 'x-userinfo', 'x-refresh-token'];
const AUTH_METHOD = { type: 'string', enum: ['client_secret_basic', 'client_secret_post'], default: 'client_secret_basic' };
const HTTP_URL = { type: 'string', pattern: '^https?://' };
const bool = (d: boolean): Record<string, unknown> => ({ type: 'boolean', default: d });
const SESSION_COOKIE_PENDING = 'openid_connect_set_cookie';

function b64json(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64');
}

function finish(ctx: PluginContext, outcome: string, result?: PhaseResult): PhaseResult | undefined {
  ctx.setVar('openid_connect_outcome', outcome);
  outcomes.inc({ outcome });
  return result;
}

function bearerRefusal(p: OidcPrepared, status: 401 | 403, error: string): PhaseResult {
  if (status === 403) return { status, body: { error } };
  const description = error.replace(/["\\\r\n]/g, ' ').slice(0, 200);
  return { status, body: { message: 'Unauthorized' }, headers: { 'WWW-Authenticate': `${p.challenge}, error="invalid_token", error_description="${description}"` } };
}

function setAccessTokenHeader(p: OidcPrepared, ctx: PluginContext, token: string | undefined): void {
  if (token === undefined || !p.conf.set_access_token_header) return;
  if (p.conf.access_token_in_authorization_header) ctx.request.setHeader('authorization', `Bearer ${token}`);
  else ctx.request.setHeader('x-access-token', token);
}

function setSessionHeaders(p: OidcPrepared, ctx: PluginContext, session: SessionData): void {
  const { conf } = p;
  setAccessTokenHeader(p, ctx, session.accessToken);
  const claims = idTokenClaims(session);
  if (claims !== undefined && conf.set_id_token_header) ctx.request.setHeader('x-id-token', b64json(claims));
  if (session.idToken !== undefined && conf.set_raw_id_token_header) ctx.request.setHeader('x-raw-id-token', session.idToken);
  if (session.user !== undefined && conf.set_userinfo_header) ctx.request.setHeader('x-userinfo', b64json(session.user));
  if (session.refreshToken !== undefined && conf.set_refresh_token_header) ctx.request.setHeader('x-refresh-token', session.refreshToken);
  const sub = (claims?.sub ?? (session.user as { sub?: unknown } | undefined)?.sub);
  if (typeof sub === 'string') ctx.setVar('openid_connect_sub', sub);
}

async function bearerFlow(p: OidcPrepared, ctx: PluginContext, token: string): Promise<PhaseResult | undefined> {
  const checked = await checkBearer(p, token, ctx.signal);
  if (!checked.ok) {
    ctx.log.error(`openid-connect: OIDC introspection failed: ${checked.error}`);
    return finish(ctx, 'bearer_refused', bearerRefusal(p, checked.status, checked.error));
  }
  setAccessTokenHeader(p, ctx, token);
  if (p.conf.set_userinfo_header) ctx.request.setHeader('x-userinfo', b64json(checked.claims));
  if (typeof checked.claims.sub === 'string') ctx.setVar('openid_connect_sub', checked.claims.sub);
  return finish(ctx, 'bearer');
}

async function sessionFlow(p: OidcPrepared, ctx: PluginContext): Promise<PhaseResult | undefined> {
  let session = readSession(p, ctx);
  const callback = ctx.request.uri === callbackPath(p, ctx.request.uri);
  if (callback && (session?.pending !== undefined || ctx.request.arg('state') !== undefined || ctx.request.arg('error') !== undefined)) {
    try {
      return finish(ctx, 'callback', await finishLogin(p, ctx, session));
    } catch (err) {
      if (!(err instanceof CallbackRefused)) throw err;
      ctx.log.error(`openid-connect: OIDC authentication failed: ${err.message}`);
      return finish(ctx, 'callback_refused', { status: 401, body: { message: 'Unauthorized' } });
    }
  }
  let outcome = 'session';
  if (session !== undefined && session.pending === undefined && accessExpired(p, session)) {
    session = await renew(p, ctx, session);
    if (session !== undefined) {
      outcome = 'renewed';
      ctx.shared.set(SESSION_COOKIE_PENDING, sessionCookie(session, p.sessionKey!, cookieOptions(p, ctx)));
    }
  }
  if (session !== undefined && session.pending === undefined) {
    const refusal = scopesRefusal(p, { scope: session.scope ?? sessionScope(session) });
    if (refusal !== undefined) return finish(ctx, 'denied', { status: 403, body: { error: refusal } });
    setSessionHeaders(p, ctx, session);
    return finish(ctx, outcome);
  }
  if (p.conf.unauth_action === 'pass') return finish(ctx, 'passed');
  if (p.conf.unauth_action === 'deny') return finish(ctx, 'denied', { status: 401, body: { message: 'Unauthorized' } });
  return finish(ctx, 'login', await startLogin(p, ctx));
}

/** Without the token endpoint's `scope`: the access token's `scope` claim when it is a JWT, else the ID token's. */
function sessionScope(session: SessionData): string | undefined {
  for (const token of [session.accessToken, session.idToken]) {
    if (token === undefined) continue;
    try {
      const scope = decodeJwt(token).scope;
      if (typeof scope === 'string') return scope;
    } catch { /* an opaque token */ }
  }
  return undefined;
}

function readSession(p: OidcPrepared, ctx: PluginContext): SessionData | undefined {
  const raw = getCookie(ctx.request.header('cookie'), p.cookie.name);
  return raw === undefined ? undefined : unseal(raw, p.sessionKey!, p.cookie.name);
}

export default definePlugin<OpenIdConnectConf, OidcPrepared>({
  name: 'openid-connect',
  description: 'Single sign-on with an OpenID Connect provider: bearer tokens checked by key set or introspection, browsers logged in by the authorization code flow.',
  version: '0.2',
  stage: 'authorization',
  priority: 345,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      client_id: { type: 'string', minLength: 1 },
      client_secret: { type: 'string', minLength: 1, encrypted: true },
      discovery: HTTP_URL,
      scope: { type: 'string', default: 'openid', minLength: 1 },
      ssl_verify: bool(true),
      timeout: { type: 'integer', minimum: 1, maximum: 60, default: 3, description: 'seconds' },
      introspection_endpoint: HTTP_URL,
      introspection_endpoint_auth_method: AUTH_METHOD,
      token_endpoint_auth_method: AUTH_METHOD,
      bearer_only: bool(false),
      session: {
        type: 'object',
        additionalProperties: false,
        properties: {
          secret: { type: 'string', minLength: 16, encrypted: true },
          cookie_name: { type: 'string', pattern: '^[!#-\'*+.0-9A-Z^-z|~-]+$', default: 'session' },
          cookie_path: { type: 'string', pattern: '^/[^;\\s]*$', default: '/' },
          cookie_domain: { type: 'string', pattern: '^[A-Za-z0-9.-]+$' },
          cookie_secure: { type: 'boolean' },
          cookie_http_only: bool(true),
          cookie_same_site: { type: 'string', enum: ['Strict', 'Lax', 'None', 'Default'], default: 'Lax' },
          absolute_timeout: { type: 'integer', minimum: 60, default: 86400 },
        },
        required: ['secret'],
      },
      realm: { ...realmSchema('apisix') },
      claim_validator: {
        type: 'object',
        additionalProperties: false,
        properties: {
          issuer: { type: 'object', additionalProperties: false, properties: { valid_issuers: { type: 'array', items: { type: 'string', minLength: 1 } } } },
          audience: {
            type: 'object',
            additionalProperties: false,
            properties: { claim: { type: 'string', minLength: 1, default: 'aud' }, required: bool(false), match_with_client_id: bool(false) },
          },
        },
      },
      logout_path: { type: 'string', pattern: '^/', default: '/logout' },
      redirect_uri: { type: 'string', pattern: '^(?:https?://[^/]+)?/' },
      post_logout_redirect_uri: { type: 'string', minLength: 1 },
      unauth_action: { type: 'string', enum: ['auth', 'deny', 'pass'], default: 'auth' },
      public_key: { type: 'string', minLength: 1 },
      use_jwks: bool(false),
      token_signing_alg_values_expected: { type: 'string', enum: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] },
      use_pkce: bool(false),
      set_access_token_header: bool(true),
      access_token_in_authorization_header: bool(false),
      set_id_token_header: bool(true),
      set_raw_id_token_header: bool(false),
      set_userinfo_header: bool(true),
      set_refresh_token_header: bool(false),
      authorization_params: { type: 'object', additionalProperties: { type: 'string' }, maxProperties: 32 },
      renew_access_token_on_expiry: bool(true),
      access_token_expires_in: { type: 'integer', minimum: 1 },
      access_token_expires_leeway: { type: 'integer', minimum: 0, default: 0 },
      jwk_expires_in: { type: 'integer', minimum: 1, default: 86400 },
      iat_slack: { type: 'integer', minimum: 0, default: 120 },
      required_scopes: { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 64 },
      proxy_opts: PROXY_OPTS_SCHEMA,
    },
    required: ['client_id', 'discovery'],
  },

  prepare(conf) {
    // APISIX's cross-field rules (its check_schema), with its messages.
    if (!conf.bearer_only && conf.session === undefined) throw new Error('property "session.secret" is required when "bearer_only" is false');
    const secretOptional = conf.bearer_only ? conf.public_key !== undefined || conf.use_jwks : conf.use_pkce;
    if (!secretOptional && conf.client_secret === undefined) throw new Error('property "client_secret" is required');
    let publicKey;
    if (conf.public_key !== undefined) {
      try {
        publicKey = createPublicKey(conf.public_key);
      } catch (err) {
        throw new Error(`property "public_key" validation failed: not a public key: ${(err as Error).message}`);
      }
    }
    const s = conf.session;
    const timeoutMs = (conf.timeout ?? 3) * 1000;
    let callback: string | undefined;
    if (conf.redirect_uri !== undefined) callback = new URL(conf.redirect_uri, 'http://gatehouse.invalid').pathname;
    return {
      conf,
      client: {
        clientId: conf.client_id,
        clientSecret: conf.client_secret,
        policy: {
          dispatcher: poolFor({ ssl_verify: conf.ssl_verify ?? true, keepalive: true, keepalive_timeout: 60_000, keepalive_pool: 5 }).dispatcher,
          timeoutMs, proxy: conf.proxy_opts, sslVerify: conf.ssl_verify ?? true,
        },
      },
      checksBearer: conf.bearer_only || conf.introspection_endpoint !== undefined || conf.public_key !== undefined || conf.use_jwks,
      publicKey,
      sessionKey: s === undefined ? undefined : sessionKey(s.secret),
      cookie: {
        name: s?.cookie_name ?? 'session',
        path: s?.cookie_path ?? '/',
        domain: s?.cookie_domain,
        secure: false,
        httpOnly: s?.cookie_http_only ?? true,
        sameSite: s?.cookie_same_site === 'Default' ? undefined : s?.cookie_same_site ?? 'Lax',
      },
      cookieSecure: s?.cookie_secure,
      sessionLifetime: s?.absolute_timeout ?? 86400,
      callbackPath: callback,
      challenge: `Bearer realm="${conf.realm ?? 'apisix'}"`,
    };
  },

  async rewrite(p, ctx) {
    const token = bearerToken(ctx.request.header('authorization'), ctx.request.header('x-access-token'));
    // The headers this plugin sets upstream are never taken from the client.
    for (const name of OUTPUT_HEADERS) ctx.request.setHeader(name, undefined);
    try {
      if (ctx.request.uri === p.conf.logout_path && !p.conf.bearer_only) {
        return finish(ctx, 'logout', await logout(p, ctx, readSession(p, ctx)));
      }
      if (p.checksBearer && token !== undefined) return await bearerFlow(p, ctx, token);
      if (p.conf.bearer_only) {
        ctx.log.error('openid-connect: OIDC introspection failed: No bearer token found in request.');
        return finish(ctx, 'bearer_refused', { status: 401, body: { message: 'Unauthorized' }, headers: { 'WWW-Authenticate': p.challenge } });
      }
      return await sessionFlow(p, ctx);
    } catch (err) {
      ctx.log.error(`openid-connect: the OpenID provider could not be used: ${(err as Error).message}`);
      return finish(ctx, 'provider_error', { status: 503, body: { message: 'OpenID provider unavailable' } });
    }
  },

  header_filter(_p, ctx) {
    const cookie = ctx.shared.get(SESSION_COOKIE_PENDING);
    if (typeof cookie === 'string') ctx.response.addHeader('set-cookie', cookie);
  },
});
