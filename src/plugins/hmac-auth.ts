// hmac-auth: identifies the consumer by an HMAC signature over chosen request parts
// (APISIX 3.x design: credential `key_id`/`secret_key`, `Authorization: Signature
// keyId=…,algorithm=…,headers=…,signature=…`), with a Date clock-skew check and an
// optional body Digest. The secret never leaves the credential table: reasons are
// logged, secrets are not; the access log may show the key_id (an identifier) that
// signed an accepted request.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { ConsumerRef, PhaseResult, PluginContext } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import {
  ANONYMOUS_CONSUMER_SCHEMA, attachAnonymousConsumer, credentialTable, realmSchema, unauthorized, type CredentialEntry,
} from './common/auth.js';

const ALGORITHMS = { 'hmac-sha1': 'sha1', 'hmac-sha256': 'sha256', 'hmac-sha512': 'sha512' } as const;
type Algorithm = keyof typeof ALGORITHMS;

export interface HmacAuthConf {
  allowed_algorithms: Algorithm[];
  clock_skew: number;
  signed_headers: string[];
  validate_request_body: boolean;
  max_req_body_size: number;
  hide_credentials: boolean;
  realm: string;
  anonymous_consumer?: string;
}

interface HmacCredential {
  key_id: string;
  secret_key: string;
}

interface HmacAuthPrepared {
  algorithms: ReadonlySet<string>;
  clockSkewMs: number;
  /** Lower-case names the client must have signed. */
  signedHeaders: readonly string[];
  validateBody: boolean;
  maxBody: number;
  hide: boolean;
  challenge: string;
  table: ReadonlyMap<string, CredentialEntry<HmacCredential>>;
  anonymous: string | undefined;
  consumers: readonly ConsumerRef[];
}

// For access logs: the key_id whose signature was accepted; why a request was not.
registerVariable('hmac_auth_key_id');
registerVariable('hmac_auth_error');

export interface SignatureParams {
  keyId?: string;
  algorithm?: string;
  headers: string[];
  signature?: string;
}

/** The `keyId`, `algorithm`, `headers` and `signature` of an `Authorization: Signature …` value. */
export function parseSignatureHeader(value: string): SignatureParams {
  const out: SignatureParams = { headers: [] };
  for (const part of value.slice('Signature'.length).split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    let v = part.slice(eq + 1).trim();
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    if (name === 'keyId') out.keyId = v;
    else if (name === 'algorithm') out.algorithm = v;
    else if (name === 'signature') out.signature = v;
    else if (name === 'headers') out.headers = v.split(' ').filter((h) => h !== '');
  }
  return out;
}

/** The string a client signs: the keyId, then one `name: value` line per signed part, each ending in `\n`. */
export function signingString(keyId: string, headers: readonly string[], method: string, requestUri: string,
  header: (name: string) => string | undefined): string {
  let s = `${keyId}\n`;
  for (const name of headers) {
    if (name === '@request-target') {
      s += `${name}: ${method} ${requestUri === '' ? '/' : requestUri}\n`;
      continue;
    }
    const v = header(name.toLowerCase());
    if (v !== undefined) s += `${name}: ${v}\n`;
  }
  return s;
}

// The signing string repeats a header once per listing: a cap keeps a short header list
// from making the gateway hash megabytes.
export const MAX_SIGNED_PARTS = 64;

const GMT_DATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

class Refusal {
  constructor(readonly reason: string, readonly detailed: boolean, readonly status = 401) {}
}

function checkDate(p: HmacAuthPrepared, ctx: PluginContext): Refusal | undefined {
  const date = ctx.request.header('date');
  if (date === undefined) return new Refusal('Date header missing. failed to validate clock skew', false);
  const at = GMT_DATE.test(date) ? Date.parse(date) : NaN;
  if (Number.isNaN(at)) return new Refusal('Invalid GMT format time', false);
  if (Math.abs(Date.now() - at) > p.clockSkewMs) return new Refusal('Clock skew exceeded', false);
  return undefined;
}

function signatureMatches(algorithm: Algorithm, secret: string, text: string, given: string): boolean {
  const expected = createHmac(ALGORITHMS[algorithm], secret).update(text, 'utf8').digest();
  const presented = Buffer.from(given, 'base64');
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

async function checkBody(p: HmacAuthPrepared, ctx: PluginContext): Promise<Refusal | undefined> {
  const body = await ctx.request.body();
  if (body.length > p.maxBody) {
    return new Refusal(`request size ${body.length} is greater than the maximum size ${p.maxBody} allowed`, true, 413);
  }
  const digest = body.length === 0 ? '' : `SHA-256=${createHash('sha256').update(body).digest('base64')}`;
  if ((ctx.request.header('digest') ?? '') !== digest) return new Refusal('Invalid digest', false);
  return undefined;
}

async function authenticate(p: HmacAuthPrepared, ctx: PluginContext): Promise<ConsumerRef | Refusal> {
  const auth = ctx.request.header('authorization');
  if (auth === undefined) return new Refusal('missing Authorization header', true);
  if (!auth.startsWith('Signature')) return new Refusal("Authorization header does not start with 'Signature'", true);
  const params = parseSignatureHeader(auth);
  if (params.keyId === undefined || params.signature === undefined) return new Refusal('keyId or signature missing', false);
  if (params.algorithm === undefined) return new Refusal('algorithm missing', false);
  if (params.headers.length > MAX_SIGNED_PARTS) return new Refusal(`more than ${MAX_SIGNED_PARTS} signed headers`, false);
  const entry = p.table.get(params.keyId);
  if (entry === undefined) return new Refusal('Invalid key_id', false);
  if (!p.algorithms.has(params.algorithm)) return new Refusal('Invalid algorithm', false);
  const dateRefusal = checkDate(p, ctx);
  if (dateRefusal !== undefined) return dateRefusal;
  const signed = new Set(params.headers.map((h) => h.toLowerCase()));
  for (const h of p.signedHeaders) {
    if (!signed.has(h)) return new Refusal(`expected header "${h}" missing in signing`, false);
  }
  const text = signingString(params.keyId, params.headers, ctx.request.method, String(ctx.var('request_uri') ?? ctx.request.uri),
    (name) => ctx.request.header(name));
  if (!signatureMatches(params.algorithm as Algorithm, entry.conf.secret_key, text, params.signature)) {
    return new Refusal('Invalid signature', false);
  }
  if (p.validateBody) {
    const bodyRefusal = await checkBody(p, ctx);
    if (bodyRefusal !== undefined) return bodyRefusal;
  }
  ctx.setVar('hmac_auth_key_id', entry.conf.key_id);
  return entry.consumer;
}

function refuse(p: HmacAuthPrepared, ctx: PluginContext, refusal: Refusal): PhaseResult | undefined {
  ctx.log.warn(`hmac-auth: client request can't be validated: ${refusal.reason}`);
  ctx.setVar('hmac_auth_error', refusal.reason);
  if (refusal.status === 413) return { status: 413, body: { message: refusal.reason } };
  if (p.anonymous === undefined) {
    const message = refusal.detailed ? `client request can't be validated: ${refusal.reason}` : "client request can't be validated";
    return unauthorized(message, p.challenge);
  }
  // A rejected signature must not reach the upstream on the anonymous path either.
  if (p.hide) ctx.request.setHeader('authorization', undefined);
  return attachAnonymousConsumer('hmac-auth', ctx, p.consumers, p.anonymous, p.challenge);
}

export default definePlugin<HmacAuthConf, HmacAuthPrepared>({
  name: 'hmac-auth',
  description: 'Adds HMAC authentication: consumers sign the request with their secret key in an `Authorization: Signature` header.',
  version: '0.1',
  stage: 'authorization',
  priority: 330,
  type: 'auth',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      allowed_algorithms: {
        type: 'array',
        minItems: 1,
        items: { type: 'string', enum: Object.keys(ALGORITHMS) },
        default: Object.keys(ALGORITHMS),
      },
      clock_skew: { type: 'integer', minimum: 1, default: 300 },
      signed_headers: {
        type: 'array',
        maxItems: 64,
        items: { type: 'string', minLength: 1, maxLength: 50 },
        default: ['date'],
      },
      validate_request_body: { type: 'boolean', default: false },
      max_req_body_size: { type: 'integer', minimum: 0, default: 1024 * 1024 },
      hide_credentials: { type: 'boolean', default: false },
      realm: realmSchema('hmac'),
      anonymous_consumer: ANONYMOUS_CONSUMER_SCHEMA,
    },
  },
  consumerSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      key_id: { type: 'string', minLength: 1, maxLength: 256 },
      secret_key: { type: 'string', minLength: 1, maxLength: 256, encrypted: true },
    },
    required: ['key_id', 'secret_key'],
  },

  prepare(conf, env) {
    return {
      algorithms: new Set(conf.allowed_algorithms ?? Object.keys(ALGORITHMS)),
      clockSkewMs: (conf.clock_skew ?? 300) * 1000,
      signedHeaders: (conf.signed_headers ?? ['date']).map((h) => h.toLowerCase()),
      validateBody: conf.validate_request_body === true,
      maxBody: conf.max_req_body_size ?? 1024 * 1024,
      hide: conf.hide_credentials === true,
      challenge: `hmac realm="${conf.realm ?? 'hmac'}"`,
      table: credentialTable<HmacCredential>(env.consumers, 'hmac-auth', 'key_id'),
      anonymous: conf.anonymous_consumer,
      consumers: env.consumers,
    };
  },

  async rewrite(p, ctx) {
    const found = await authenticate(p, ctx);
    if (found instanceof Refusal) return refuse(p, ctx, found);
    if (p.hide) ctx.request.setHeader('authorization', undefined);
    ctx.attachConsumer(found);
    return undefined;
  },
});
