// openid-connect's browser half: the authorization code flow (OpenID Connect Core 3.1).
// Login: a 302 to the provider's authorization endpoint with state, nonce and (use_pkce)
// an S256 code challenge, all remembered in the sealed session cookie. Callback (the
// redirect_uri path): the state must match, the code is exchanged at the token endpoint,
// the ID token verified against the provider's key set (issuer, audience = client_id,
// nonce), the userinfo fetched, and the tokens sealed into the session cookie before a
// 302 back to the page first asked for. An expired access token is renewed with the
// refresh token. Logout: the cookie is cleared and the browser sent to the provider's
// end_session_endpoint (RP-initiated logout) with id_token_hint and post_logout_redirect_uri.
import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import type { PhaseResult, PluginContext } from '../contracts/plugin.js';
import { verifyWithJwks } from './jwks-cache.js';
import { discover, tokenGrant, userinfo, type TokenSet } from './provider-calls.js';
import { REDIRECT_SUFFIX, type OidcPrepared } from './prepared.js';
import { clearedCookie, sessionCookie, type CookieOptions, type SessionData } from './session-cookie.js';

const nowSeconds = (): number => Date.now() / 1000;
const random = (): string => randomBytes(24).toString('base64url');

/** The path of the redirect_uri for this request (APISIX: `<uri>/.apisix/redirect` when not configured). */
export function callbackPath(p: OidcPrepared, uri: string): string {
  if (p.callbackPath !== undefined) return p.callbackPath;
  if (uri.endsWith(REDIRECT_SUFFIX)) return uri;
  return (uri.endsWith('/') ? uri.slice(0, -1) : uri) + REDIRECT_SUFFIX;
}

function absoluteRedirectUri(p: OidcPrepared, ctx: PluginContext): string {
  const configured = p.conf.redirect_uri;
  if (configured !== undefined && /^https?:\/\//.test(configured)) return configured;
  return `${String(ctx.var('scheme') ?? 'http')}://${ctx.request.header('host') ?? ctx.request.host}${callbackPath(p, ctx.request.uri)}`;
}

/** The cookie attributes for this request: Secure when configured, else when the request came over https. */
export function cookieOptions(p: OidcPrepared, ctx: PluginContext): CookieOptions {
  return { ...p.cookie, secure: p.cookieSecure ?? ctx.var('scheme') === 'https' };
}

function redirect(location: string, cookie: string): PhaseResult {
  return { status: 302, headers: { location, 'set-cookie': cookie, 'cache-control': 'no-store' } };
}

export async function startLogin(p: OidcPrepared, ctx: PluginContext): Promise<PhaseResult> {
  const { conf } = p;
  const doc = await discover(conf.discovery, p.client.policy);
  if (doc.authorization_endpoint === undefined) throw new Error('the discovery document has no authorization_endpoint');
  const state = random();
  const nonce = random();
  const verifier = conf.use_pkce ? randomBytes(32).toString('base64url') : undefined;
  const target = new URL(doc.authorization_endpoint);
  const params: Record<string, string> = {
    ...conf.authorization_params,
    response_type: 'code', client_id: conf.client_id, scope: conf.scope,
    redirect_uri: absoluteRedirectUri(p, ctx), state, nonce,
  };
  if (verifier !== undefined) {
    params.code_challenge = createHash('sha256').update(verifier).digest('base64url');
    params.code_challenge_method = 'S256';
  }
  for (const [k, v] of Object.entries(params)) target.searchParams.set(k, v);
  const url = String(ctx.var('request_uri') ?? ctx.request.uri);
  // A login in progress lasts at most ten minutes (or the session lifetime, if shorter).
  const session: SessionData = { expires: nowSeconds() + Math.min(600, p.sessionLifetime), pending: { state, nonce, verifier, url } };
  return redirect(target.toString(), sessionCookie(session, p.sessionKey!, cookieOptions(p, ctx)));
}

function accessExpiry(p: OidcPrepared, tokens: TokenSet): number | undefined {
  const lifetime = tokens.expires_in ?? p.conf.access_token_expires_in;
  return lifetime === undefined ? undefined : nowSeconds() + lifetime;
}

/** The callback: a 302 back to the first page with the session cookie; throws CallbackRefused or provider errors. */
export async function finishLogin(p: OidcPrepared, ctx: PluginContext, session: SessionData | undefined): Promise<PhaseResult> {
  const { conf } = p;
  const pending = session?.pending;
  const error = ctx.request.arg('error');
  if (error !== undefined) throw new CallbackRefused(`the provider answered error=${error}`);
  const state = ctx.request.arg('state');
  const code = ctx.request.arg('code');
  if (pending === undefined || state === undefined || state !== pending.state) {
    throw new CallbackRefused('state from argument does not match state restored from session');
  }
  if (code === undefined || code === '') throw new CallbackRefused('no code in the callback');
  const doc = await discover(conf.discovery, p.client.policy);
  if (doc.token_endpoint === undefined || doc.jwks_uri === undefined) throw new Error('the discovery document has no token_endpoint or jwks_uri');
  const form: Record<string, string> = { grant_type: 'authorization_code', code, redirect_uri: absoluteRedirectUri(p, ctx) };
  if (pending.verifier !== undefined) form.code_verifier = pending.verifier;
  const tokens = await tokenGrant(doc.token_endpoint, p.client, conf.token_endpoint_auth_method, form, ctx.signal);
  if (tokens.id_token === undefined) throw new CallbackRefused('the token endpoint returned no id_token');
  let claims: Record<string, unknown>;
  try {
    claims = (await verifyWithJwks(tokens.id_token, doc.jwks_uri, { ...p.client.policy, ttlMs: conf.jwk_expires_in * 1000 }, {
      issuer: doc.issuer, audience: conf.client_id, clockTolerance: conf.iat_slack,
      ...(conf.token_signing_alg_values_expected !== undefined ? { algorithms: [conf.token_signing_alg_values_expected] } : {}),
    })).payload;
  } catch (err) {
    throw new CallbackRefused(`invalid id_token: ${(err as Error).message}`);
  }
  if (claims.nonce !== pending.nonce) throw new CallbackRefused('the id_token nonce does not match');
  let user: unknown = claims;
  if (doc.userinfo_endpoint !== undefined && tokens.access_token !== undefined) {
    try {
      user = await userinfo(doc.userinfo_endpoint, p.client, tokens.access_token, ctx.signal);
    } catch (err) {
      ctx.log.warn(`openid-connect: userinfo failed, using the id_token claims: ${(err as Error).message}`);
    }
  }
  const fresh: SessionData = {
    expires: nowSeconds() + p.sessionLifetime,
    accessToken: tokens.access_token, accessExpires: accessExpiry(p, tokens),
    idToken: tokens.id_token, refreshToken: tokens.refresh_token, scope: tokens.scope, user,
  };
  ctx.setVar('openid_connect_sub', typeof claims.sub === 'string' ? claims.sub : undefined);
  return redirect(pending.url, sessionCookie(fresh, p.sessionKey!, cookieOptions(p, ctx)));
}

/** Whether the session's access token has expired (access_token_expires_leeway seconds early). */
export function accessExpired(p: OidcPrepared, session: SessionData): boolean {
  return session.accessExpires !== undefined && session.accessExpires - p.conf.access_token_expires_leeway <= nowSeconds();
}

/** The session with renewed tokens; undefined when it cannot be renewed (then the user logs in again). */
export async function renew(p: OidcPrepared, ctx: PluginContext, session: SessionData): Promise<SessionData | undefined> {
  if (!p.conf.renew_access_token_on_expiry || session.refreshToken === undefined) return undefined;
  try {
    const doc = await discover(p.conf.discovery, p.client.policy);
    if (doc.token_endpoint === undefined) return undefined;
    const tokens = await tokenGrant(doc.token_endpoint, p.client, p.conf.token_endpoint_auth_method,
      { grant_type: 'refresh_token', refresh_token: session.refreshToken }, ctx.signal);
    if (tokens.access_token === undefined) return undefined;
    return {
      ...session,
      accessToken: tokens.access_token, accessExpires: accessExpiry(p, tokens),
      refreshToken: tokens.refresh_token ?? session.refreshToken, idToken: tokens.id_token ?? session.idToken,
      scope: tokens.scope ?? session.scope,
    };
  } catch (err) {
    ctx.log.warn(`openid-connect: failed to renew the access token: ${(err as Error).message}`);
    return undefined;
  }
}

export async function logout(p: OidcPrepared, ctx: PluginContext, session: SessionData | undefined): Promise<PhaseResult> {
  const cleared = clearedCookie(cookieOptions(p, ctx));
  const doc = await discover(p.conf.discovery, p.client.policy);
  if (doc.end_session_endpoint !== undefined) {
    const target = new URL(doc.end_session_endpoint);
    if (session?.idToken !== undefined) target.searchParams.set('id_token_hint', session.idToken);
    else target.searchParams.set('client_id', p.conf.client_id);
    if (p.conf.post_logout_redirect_uri !== undefined) target.searchParams.set('post_logout_redirect_uri', p.conf.post_logout_redirect_uri);
    return redirect(target.toString(), cleared);
  }
  if (p.conf.post_logout_redirect_uri !== undefined) return redirect(p.conf.post_logout_redirect_uri, cleared);
  return { status: 200, body: 'Logged Out\n', headers: { 'content-type': 'text/plain', 'set-cookie': cleared, 'cache-control': 'no-store' } };
}

/** The ID token's claims (for X-ID-Token); undefined when there is none. */
export function idTokenClaims(session: SessionData): Record<string, unknown> | undefined {
  if (session.idToken === undefined) return undefined;
  try { return decodeJwt(session.idToken); } catch { return undefined; }
}

/** A callback that must not log anyone in (forged, replayed, or refused by the provider). */
export class CallbackRefused extends Error {}
