// oauth: Higress's OAuth2 plugin. The gateway is the authorization server of the
// client-credentials grant: a request whose path ends with `auth_path` (on a route
// carrying the plugin) gets an access token for a configured client — an RFC 9068 JWT
// (`typ: application/at+jwt`), HS256-signed with that client's secret, claims iss, sub
// (the consumer's name), aud (`default`, or the route's id without
// `global_credentials`), iat, exp, jti, client_id and the requested scope. Every other
// request must carry such a token as `Bearer` in `auth_header`: refused with Higress's
// 401 `Invalid Jwt token` and a `WWW-Authenticate: Bearer realm="<request URL>"`
// challenge, or 403 `Access Denied` when the token is good but its consumer is not in
// `allow` or its audience is another route. A known consumer goes upstream as
// `X-Mse-Consumer` and is attached (the gateway consumer of that name when there is one),
// so consumer-restriction and the limiters see it. Field names as Higress's code reads
// them (`auth_header`, not the README's `auth_header_name`).
import { randomUUID } from 'node:crypto';
import { createSecretKey, type KeyObject } from 'node:crypto';
import { decodeJwt, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import type { ConsumerRef, PhaseResult, PluginContext } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { counter } from '../observability/metrics.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { REDACTED } from '../plugin-runtime/secret-fields.js';
import { findAnonymousConsumer, HashedSecret } from './common/auth.js';
import { HEADER_NAME_SCHEMA } from './common/headers.js';
import { shareVerifiedJwt } from './common/verified-jwt.js';

export interface OAuthConsumerConf {
  name: string;
  client_id: string;
  client_secret: string;
}

export interface OAuthConf {
  consumers: OAuthConsumerConf[];
  issuer: string;
  auth_path: string;
  global_credentials: boolean;
  auth_header: string;
  token_ttl: number;
  keep_token: boolean;
  clock_skew_seconds: number;
  allow?: string[];
}

interface OAuthClient {
  name: string;
  clientId: string;
  secret: HashedSecret;
  key: KeyObject;
  /** What is attached: the gateway consumer of this name, else one made of the name alone. */
  consumer: ConsumerRef;
}

interface OAuthPrepared {
  clients: ReadonlyMap<string, OAuthClient>;
  issuer: string;
  authPath: string;
  global: boolean;
  /** Lower-case. */
  header: string;
  ttl: number;
  keepToken: boolean;
  skew: number;
  allow: ReadonlySet<string> | undefined;
}

/** RFC 9068's media type of JWT access tokens (Higress's `typ`). */
export const ACCESS_TOKEN_TYPE = 'application/at+jwt';
const DEFAULT_AUDIENCE = 'default';
/** Higress's bound on the request URI quoted in the challenge. */
const MAX_REALM_PATH = 256;

/** For access logs: what the plugin did with the request, and the client it identified. */
registerVariable('oauth_result');
registerVariable('oauth_client_id');

const issued = counter('gatehouse_oauth_tokens_issued_total', 'Access tokens issued by the oauth plugin', ['consumer']);
const refused = counter('gatehouse_oauth_refused_total',
  'Requests the oauth plugin refused: bad_token_request (400 at the token endpoint), invalid_token (401), access_denied (403)',
  ['reason']);

const text = (status: number, body: string, headers: Record<string, string> = {}): PhaseResult =>
  ({ status, body, headers: { 'Content-Type': 'text/plain; charset=utf-8', ...headers } });

function buildClients(conf: OAuthConf, consumers: readonly ConsumerRef[]): Map<string, OAuthClient> {
  const clients = new Map<string, OAuthClient>();
  const names = new Set<string>();
  conf.consumers.forEach((c, i) => {
    if (names.has(c.name)) throw new Error(`consumers[${i}].name: consumer "${c.name}" is listed twice`);
    if (clients.has(c.client_id)) throw new Error(`consumers[${i}].client_id: client_id "${c.client_id}" is listed twice`);
    names.add(c.name);
    clients.set(c.client_id, {
      name: c.name,
      clientId: c.client_id,
      secret: new HashedSecret(c.client_secret),
      key: createSecretKey(Buffer.from(c.client_secret, 'utf8')),
      consumer: findAnonymousConsumer(consumers, c.name) ?? { username: c.name, plugins: {} },
    });
  });
  return clients;
}

/** `<scheme>://<host><request URI, at most 256 chars>`, with what cannot sit in a quoted string escaped. */
function realm(ctx: PluginContext): string {
  const uri = String(ctx.var('request_uri') ?? ctx.request.uri).slice(0, MAX_REALM_PATH);
  const url = `${String(ctx.var('scheme') ?? 'http')}://${ctx.request.header('host') ?? ctx.request.host}${uri}`;
  return url.replace(/["\\\x00-\x1f\x7f-\uffff]/g, (ch) => encodeURIComponent(ch));
}

function invalidToken(ctx: PluginContext): PhaseResult {
  ctx.setVar('oauth_result', 'invalid_token');
  refused.inc({ reason: 'invalid_token' });
  return text(401, 'Invalid Jwt token', { 'WWW-Authenticate': `Bearer realm="${realm(ctx)}"` });
}

function accessDenied(ctx: PluginContext): PhaseResult {
  ctx.setVar('oauth_result', 'access_denied');
  refused.inc({ reason: 'access_denied' });
  return text(403, 'Access Denied');
}

function badTokenRequest(ctx: PluginContext, message: string, status = 400, headers: Record<string, string> = {}): PhaseResult {
  ctx.setVar('oauth_result', 'bad_token_request');
  refused.inc({ reason: 'bad_token_request' });
  return text(status, message, headers);
}

/** `client_secret_basic` (RFC 6749 2.3.1): `Basic base64(urlencoded id ":" urlencoded secret)`. */
function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  if (header === undefined || !/^basic /i.test(header)) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const form = new URLSearchParams(`id=${decoded.slice(0, colon)}&secret=${decoded.slice(colon + 1)}`);
  return { id: form.get('id') ?? '', secret: form.get('secret') ?? '' };
}

/**
 * A GET token request carries the client secret in its query: the variables access logs
 * read it from show it masked instead (the request is answered here, nothing else needs them).
 */
function maskSecretInVars(ctx: PluginContext, uri: string, q: number): void {
  const query = uri.slice(q + 1).split('&').map((part) => {
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    return new URLSearchParams(`${name}=`).has('client_secret') ? `${name}=${REDACTED}` : part;
  }).join('&');
  const masked = `${uri.slice(0, q)}?${query}`;
  const line = `${ctx.request.method} ${masked} ${String(ctx.var('server_protocol') ?? 'HTTP/1.1')}`;
  for (const [name, value] of [['request_uri', masked], ['real_request_uri', masked], ['request', line],
    ['request_line', line], ['args', query], ['query_string', query], ['arg_client_secret', REDACTED]]) {
    ctx.setVar(name!, value);
  }
}

/** The token request's parameters: the query of a GET, the form body of a POST (first occurrence wins). */
async function tokenParams(ctx: PluginContext): Promise<URLSearchParams | PhaseResult> {
  const method = ctx.request.method;
  if (method === 'GET') {
    const uri = String(ctx.var('request_uri') ?? '');
    const q = uri.indexOf('?');
    if (q < 0) return badTokenRequest(ctx, 'Authorize parameters are missing');
    const params = new URLSearchParams(uri.slice(q + 1));
    if (params.has('client_secret')) maskSecretInVars(ctx, uri, q);
    return params;
  }
  if (method === 'POST') {
    if (!(ctx.request.header('content-type') ?? '').toLowerCase().includes('application/x-www-form-urlencoded')) {
      return badTokenRequest(ctx, 'Invalid content-type');
    }
    return new URLSearchParams((await ctx.request.body()).toString('utf8'));
  }
  // Higress lets any other method through to the upstream unauthenticated; here it is refused.
  return badTokenRequest(ctx, `method:${method} is not support`, 405, { Allow: 'GET, POST' });
}

async function issueToken(p: OAuthPrepared, ctx: PluginContext): Promise<PhaseResult> {
  const params = await tokenParams(ctx);
  if (!(params instanceof URLSearchParams)) return params;
  const grant = params.get('grant_type');
  if (grant === null) return badTokenRequest(ctx, 'grant_type is missing');
  if (grant !== 'client_credentials') return badTokenRequest(ctx, `grant_type:${grant} is not support`);
  const basic = params.has('client_id') ? undefined : basicCredentials(ctx.request.header('authorization'));
  const clientId = params.get('client_id') ?? basic?.id;
  if (clientId === undefined) return badTokenRequest(ctx, 'client_id is missing');
  ctx.setVar('oauth_client_id', clientId);
  const client = p.clients.get(clientId);
  if (client === undefined) return badTokenRequest(ctx, 'invalid client_id or client_secret');
  const secret = params.get('client_secret') ?? basic?.secret;
  if (secret === undefined) return badTokenRequest(ctx, 'client_secret is missing');
  if (!client.secret.matches(secret)) return badTokenRequest(ctx, 'invalid client_id or client_secret');

  const now = Math.floor(Date.now() / 1000);
  const claims: JWTPayload = { client_id: client.clientId };
  const scope = params.get('scope');
  if (scope !== null) claims.scope = scope;
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: ACCESS_TOKEN_TYPE })
    .setIssuer(p.issuer)
    .setSubject(client.name)
    .setAudience(p.global ? DEFAULT_AUDIENCE : ctx.routeId ?? '')
    .setIssuedAt(now)
    .setExpirationTime(now + p.ttl)
    .setJti(randomUUID())
    .sign(client.key);
  ctx.setVar('oauth_result', 'token_issued');
  issued.inc({ consumer: client.name });
  return {
    status: 200,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
    body: { token_type: 'bearer', access_token: token, expires_in: p.ttl },
  };
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isInteger = (v: unknown): v is number => Number.isInteger(v);

async function verifyToken(p: OAuthPrepared, ctx: PluginContext): Promise<PhaseResult | undefined> {
  const value = ctx.request.header(p.header);
  if (value === undefined || !/^bearer /i.test(value)) return invalidToken(ctx);
  const token = value.slice(7).trim();
  let claims: JWTPayload;
  try {
    claims = decodeJwt(token);
  } catch {
    return invalidToken(ctx);
  }
  const { client_id: clientId, iss, sub, aud, exp, iat } = claims;
  if (!isString(clientId) || !isString(iss) || !isString(sub) || !isString(aud) || !isInteger(exp) || !isInteger(iat)) {
    return invalidToken(ctx);
  }
  ctx.setVar('oauth_client_id', clientId);
  const client = p.clients.get(clientId);
  if (client === undefined) return invalidToken(ctx);
  try {
    await jwtVerify(token, client.key, {
      algorithms: ['HS256'], issuer: p.issuer, subject: client.name, typ: ACCESS_TOKEN_TYPE, clockTolerance: p.skew,
    });
  } catch (err) {
    // never the token itself: it may be someone's valid credential
    ctx.log.info(`oauth: token of client_id ${clientId} refused: ${(err as Error).message}`);
    return invalidToken(ctx);
  }
  if (iat > Math.floor(Date.now() / 1000) + p.skew) return invalidToken(ctx);
  if (p.allow !== undefined && !p.allow.has(client.name)) return accessDenied(ctx);
  if (!p.global && aud !== ctx.routeId) return accessDenied(ctx);

  if (!p.keepToken) ctx.request.setHeader(p.header, undefined);
  ctx.request.setHeader('x-mse-consumer', client.name);
  ctx.attachConsumer(client.consumer);
  shareVerifiedJwt(ctx, { token, claims, validUntilMs: (exp + p.skew) * 1000 });
  ctx.setVar('oauth_result', 'authenticated');
  return undefined;
}

export default definePlugin<OAuthConf, OAuthPrepared>({
  name: 'oauth',
  description: 'Issues OAuth2 access tokens (client-credentials grant, RFC 9068 JWTs) to configured clients and requires them on the route.',
  version: '0.1',
  stage: 'authorization',
  priority: 350,
  type: 'auth',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      consumers: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1 },
            client_id: { type: 'string', minLength: 1 },
            // a secret: masked for viewers on Admin reads (plugin-runtime/secret-fields.ts), never logged
            client_secret: { type: 'string', minLength: 1, encrypted: true },
          },
          required: ['name', 'client_id', 'client_secret'],
        },
      },
      issuer: { type: 'string', minLength: 1, default: 'Higress-Gateway' },
      auth_path: { type: 'string', default: '/oauth2/token' },
      global_credentials: { type: 'boolean', default: true },
      auth_header: { ...HEADER_NAME_SCHEMA, default: 'Authorization' },
      token_ttl: { type: 'integer', minimum: 1, default: 7200 },
      keep_token: { type: 'boolean', default: true },
      clock_skew_seconds: { type: 'integer', minimum: 0, default: 60 },
      allow: { type: 'array', items: { type: 'string', minLength: 1 }, uniqueItems: true },
    },
    required: ['consumers'],
  },

  prepare(conf, env) {
    const path = conf.auth_path ?? '/oauth2/token';
    return {
      clients: buildClients(conf, env.consumers),
      issuer: conf.issuer ?? 'Higress-Gateway',
      // as Higress: empty is `/`, a missing leading slash is added
      authPath: path.startsWith('/') ? path : `/${path}`,
      global: conf.global_credentials !== false,
      header: (conf.auth_header ?? 'Authorization').toLowerCase(),
      ttl: conf.token_ttl ?? 7200,
      keepToken: conf.keep_token !== false,
      skew: conf.clock_skew_seconds ?? 60,
      allow: conf.allow === undefined ? undefined : new Set(conf.allow),
    };
  },

  rewrite(p, ctx) {
    if (ctx.request.uri.endsWith(p.authPath)) return issueToken(p, ctx);
    return verifyToken(p, ctx);
  },
});
