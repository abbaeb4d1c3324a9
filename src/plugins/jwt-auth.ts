// jwt-auth: identifies the consumer by a JWT (header `authorization`, then query `jwt`,
// then cookie `jwt`) whose `key` claim names a consumer's jwt-auth `key`; the token is
// verified with that consumer's secret (HS*) or public key (RS*/ES*/PS*/EdDSA) by jose.
// APISIX jwt-auth 3.x schema and messages; the token's `alg` must equal the consumer's
// `algorithm` (no algorithm confusion). Keys are imported once per config snapshot.
// Beyond APISIX: an asymmetric credential may give `jwks_uri` instead of `public_key`;
// the token is then verified with the key of that set its `kid` names (key sets fetched
// and cached by src/oidc/jwks-cache.ts, shared with openid-connect).
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, jwtVerify, type JWSAlgorithm, type JWTPayload } from 'jose';
import type { ConsumerRef, PhaseResult, PluginContext } from '../contracts/plugin.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import {
  ANONYMOUS_CONSUMER_SCHEMA, credentialTable, findAnonymousConsumer, getCookie, realmSchema, removeCookie,
  removeQueryArg, unauthorized,
} from './common/auth.js';
import { HEADER_NAME_SCHEMA } from './common/headers.js';
import { shareVerifiedJwt } from './common/verified-jwt.js';
import { poolFor } from './common/http-client.js';
import { verifyWithJwks, type JwksPolicy } from '../oidc/jwks-cache.js';

export interface JwtAuthConf {
  header: string;
  query: string;
  cookie: string;
  hide_credentials: boolean;
  key_claim_name: string;
  store_in_ctx: boolean;
  realm: string;
  anonymous_consumer?: string;
  claims_to_verify?: ('exp' | 'nbf')[];
}

export interface JwtConsumerConf {
  key: string;
  secret?: string;
  public_key?: string;
  jwks_uri?: string;
  algorithm?: string;
  base64_secret?: boolean;
  lifetime_grace_period?: number;
}

interface JwtKey {
  consumer: ConsumerRef;
  algorithm: string;
  key: KeyObject | undefined;
  /** With no `key`: the key set to verify with. */
  jwksUri: string | undefined;
  /** Why the key could not be imported (logged when a token names this consumer). */
  error: string | undefined;
  grace: number;
}

interface JwtAuthPrepared {
  header: string;
  query: string;
  cookie: string;
  hide: boolean;
  keyClaim: string;
  storeInCtx: boolean;
  challenge: string;
  anonymous: string | undefined;
  requiredClaims: string[] | undefined;
  keys: ReadonlyMap<string, JwtKey>;
  consumers: readonly ConsumerRef[];
}

const HS = ['HS256', 'HS384', 'HS512'];
const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'EdDSA'];
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** A `$secret://` or `$env://` reference, resolved later (APISIX skips the base64 check for them too). */
const SECRET_REF = '^\\$(?:secret|[Ee][Nn][Vv])://';

/** Imports one consumer's verification key; returns [key, error]. */
export function importConsumerKey(conf: JwtConsumerConf): [KeyObject | undefined, string | undefined] {
  const algorithm = conf.algorithm ?? 'HS256';
  try {
    if (HS.includes(algorithm)) {
      if (typeof conf.secret !== 'string' || conf.secret === '') return [undefined, 'property "secret" is required when using HS based algorithms'];
      if (conf.base64_secret === true) {
        if (!BASE64.test(conf.secret)) return [undefined, 'base64_secret required but the secret is not in base64 format'];
        return [createSecretKey(Buffer.from(conf.secret, 'base64')), undefined];
      }
      return [createSecretKey(Buffer.from(conf.secret, 'utf8')), undefined];
    }
    if ((conf.public_key === undefined || conf.public_key === '') && typeof conf.jwks_uri === 'string') return [undefined, undefined];
    if (typeof conf.public_key !== 'string' || conf.public_key === '') return [undefined, 'missing valid public key'];
    return [createPublicKey(conf.public_key), undefined];
  } catch (err) {
    return [undefined, `invalid key: ${(err as Error).message}`];
  }
}

/** How jwks_uri key sets are fetched: certificates verified, 3 s at most, kept for a day. */
let sharedJwksPolicy: JwksPolicy | undefined;
function jwksPolicy(): JwksPolicy {
  return sharedJwksPolicy ??= {
    dispatcher: poolFor({ ssl_verify: true, keepalive: true, keepalive_timeout: 60_000, keepalive_pool: 5 }).dispatcher, timeoutMs: 3000,
  };
}

// Imported keys per credential table, so routes sharing a snapshot import each key once.
const keyTables = new WeakMap<ReadonlyMap<string, unknown>, Map<string, JwtKey>>();

function keyTable(consumers: readonly ConsumerRef[]): Map<string, JwtKey> {
  const table = credentialTable<JwtConsumerConf>(consumers, 'jwt-auth', 'key');
  let out = keyTables.get(table);
  if (out === undefined) {
    out = new Map();
    for (const [k, entry] of table) {
      const [key, error] = importConsumerKey(entry.conf);
      out.set(k, {
        consumer: entry.consumer,
        algorithm: entry.conf.algorithm ?? 'HS256',
        key,
        jwksUri: key === undefined && error === undefined ? entry.conf.jwks_uri : undefined,
        error,
        grace: entry.conf.lifetime_grace_period ?? 0,
      });
    }
    keyTables.set(table, out);
  }
  return out;
}

/** The token from header (Bearer prefix optional), query argument or cookie, hiding it when asked. */
function fetchToken(p: JwtAuthPrepared, ctx: PluginContext): string | undefined {
  const fromHeader = ctx.request.header(p.header);
  if (fromHeader !== undefined) {
    if (p.hide) ctx.request.setHeader(p.header, undefined);
    const prefix = fromHeader.slice(0, 7);
    return prefix === 'Bearer ' || prefix === 'bearer ' ? fromHeader.slice(7) : fromHeader;
  }
  const fromQuery = ctx.request.arg(p.query);
  if (fromQuery !== undefined) {
    if (p.hide) ctx.request.upstreamUri = removeQueryArg(ctx.request.upstreamUri, p.query);
    return fromQuery;
  }
  const cookies = ctx.request.header('cookie');
  const fromCookie = getCookie(cookies, p.cookie);
  if (fromCookie !== undefined && p.hide) ctx.request.setHeader('cookie', removeCookie(cookies!, p.cookie));
  return fromCookie;
}

async function authenticate(p: JwtAuthPrepared, ctx: PluginContext): Promise<ConsumerRef | string> {
  const token = fetchToken(p, ctx);
  if (token === undefined) return 'Missing JWT token in request';

  let alg: string | undefined;
  let claims: JWTPayload;
  try {
    alg = decodeProtectedHeader(token).alg;
    claims = decodeJwt(token);
  } catch (err) {
    ctx.log.warn(`JWT token invalid: ${(err as Error).message}`);
    return 'JWT token invalid';
  }
  const userKey = claims[p.keyClaim];
  if (userKey === undefined || userKey === null) return 'missing user key in JWT token';
  const entry = typeof userKey === 'string' ? p.keys.get(userKey) : undefined;
  if (entry === undefined) {
    ctx.log.warn('failed to find consumer: invalid user key');
    return 'Invalid user key in JWT token';
  }
  if (entry.key === undefined && entry.jwksUri === undefined) {
    ctx.log.error(`failed to retrieve secrets, err: ${entry.error ?? 'no key'}`);
    return 'failed to verify jwt';
  }
  if (alg !== entry.algorithm) {
    ctx.log.warn(`failed to verify jwt: algorithm mismatch, expected ${entry.algorithm}`);
    return 'failed to verify jwt';
  }
  try {
    const options = {
      algorithms: [entry.algorithm as JWSAlgorithm],
      clockTolerance: entry.grace,
      ...(p.requiredClaims !== undefined ? { requiredClaims: p.requiredClaims } : {}),
    };
    if (entry.key !== undefined) await jwtVerify(token, entry.key, options);
    else await verifyWithJwks(token, entry.jwksUri!, jwksPolicy(), options);
  } catch (err) {
    ctx.log.warn(`failed to verify jwt: ${(err as Error).message}`);
    return 'failed to verify jwt';
  }
  if (p.storeInCtx) ctx.shared.set('jwt_auth_payload', claims);
  shareVerifiedJwt(ctx, { token, claims, validUntilMs: typeof claims.exp === 'number' ? (claims.exp + entry.grace) * 1000 : undefined });
  return entry.consumer;
}

export default definePlugin<JwtAuthConf, JwtAuthPrepared>({
  name: 'jwt-auth',
  description: 'Adds JSON Web Token (JWT) authentication: consumers present a token signed with their key.',
  version: '0.1',
  stage: 'authorization',
  priority: 340,
  type: 'auth',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      header: { ...HEADER_NAME_SCHEMA, default: 'authorization' },
      query: { type: 'string', default: 'jwt' },
      cookie: { type: 'string', default: 'jwt' },
      hide_credentials: { type: 'boolean', default: false },
      key_claim_name: { type: 'string', default: 'key', minLength: 1 },
      store_in_ctx: { type: 'boolean', default: false },
      realm: realmSchema('jwt'),
      anonymous_consumer: ANONYMOUS_CONSUMER_SCHEMA,
      claims_to_verify: {
        type: 'array',
        items: { type: 'string', enum: ['exp', 'nbf'] },
        uniqueItems: true,
      },
    },
  },
  consumerSchema: {
    type: 'object',
    // Also refuses APISIX's `exp` (the lifetime of tokens its removed sign endpoint issued,
    // ignored by APISIX 3.x): Gatehouse issues no tokens, so it could have no effect.
    additionalProperties: false,
    properties: {
      key: { type: 'string', minLength: 1 },
      secret: { type: 'string', minLength: 1, encrypted: true },
      public_key: { type: 'string', minLength: 1 },
      // Gatehouse's extension: the key set of an identity provider instead of one public key.
      jwks_uri: { type: 'string', pattern: '^https?://' },
      algorithm: { type: 'string', enum: [...HS, ...ASYMMETRIC], default: 'HS256' },
      base64_secret: { type: 'boolean', default: false },
      lifetime_grace_period: { type: 'integer', minimum: 0, default: 0 },
    },
    required: ['key'],
    // HS* needs `secret`, the others `public_key` or `jwks_uri`; the message names the fields.
    anyOf: [
      { properties: { algorithm: { enum: HS } }, required: ['secret'] },
      { properties: { algorithm: { enum: ASYMMETRIC } }, required: ['public_key'] },
      { properties: { algorithm: { enum: ASYMMETRIC } }, required: ['jwks_uri'] },
    ],
    // A base64_secret that is no base64 is refused when written, as APISIX does. Not a
    // plain `pattern` on secret: its error message would quote the secret.
    if: { properties: { base64_secret: { const: true } }, required: ['base64_secret'] },
    then: { properties: { secret: { anyOf: [{ pattern: BASE64.source }, { pattern: SECRET_REF }] } } },
  },

  prepare(conf, env) {
    return {
      header: (conf.header ?? 'authorization').toLowerCase(),
      query: conf.query ?? 'jwt',
      cookie: conf.cookie ?? 'jwt',
      hide: conf.hide_credentials === true,
      keyClaim: conf.key_claim_name ?? 'key',
      storeInCtx: conf.store_in_ctx === true,
      challenge: `Bearer realm="${conf.realm ?? 'jwt'}"`,
      anonymous: conf.anonymous_consumer,
      requiredClaims: conf.claims_to_verify !== undefined && conf.claims_to_verify.length > 0 ? [...conf.claims_to_verify] : undefined,
      keys: keyTable(env.consumers),
      consumers: env.consumers,
    };
  },

  async rewrite(p, ctx): Promise<PhaseResult | undefined> {
    let found = await authenticate(p, ctx);
    if (typeof found === 'string') {
      if (p.anonymous === undefined) return unauthorized(found, p.challenge);
      const anon = findAnonymousConsumer(p.consumers, p.anonymous);
      if (anon === undefined) {
        ctx.log.error(`jwt-auth failed to authenticate the request, code: 401. error: anonymous consumer ${p.anonymous} not found`);
        return unauthorized('Invalid user authorization', p.challenge);
      }
      found = anon;
    }
    ctx.attachConsumer(found);
    return undefined;
  },
});
