// key-auth: identifies the consumer by an API key sent in a header (default `apikey`)
// or, failing that, a query argument (default `apikey`). APISIX key-auth 3.x schema,
// messages and `WWW-Authenticate: apikey realm="key"` challenge.
import type { ConsumerRef, PhaseResult, PluginContext } from '../contracts/plugin.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import {
  ANONYMOUS_CONSUMER_SCHEMA, attachAnonymousConsumer, credentialTable, realmSchema, removeQueryArg, unauthorized,
  type CredentialEntry,
} from './common/auth.js';
import { HEADER_NAME_SCHEMA } from './common/headers.js';

export interface KeyAuthConf {
  header: string;
  query: string;
  hide_credentials: boolean;
  realm: string;
  anonymous_consumer?: string;
}

interface KeyAuthPrepared {
  /** Lower-case header name. */
  header: string;
  query: string;
  hide: boolean;
  challenge: string;
  table: ReadonlyMap<string, CredentialEntry>;
  anonymous: string | undefined;
  consumers: readonly ConsumerRef[];
}

function hideBoth(p: KeyAuthPrepared, ctx: PluginContext): void {
  if (ctx.request.header(p.header) !== undefined) ctx.request.setHeader(p.header, undefined);
  ctx.request.upstreamUri = removeQueryArg(ctx.request.upstreamUri, p.query);
}

function reject(p: KeyAuthPrepared, ctx: PluginContext, message: string): PhaseResult | undefined {
  if (p.anonymous === undefined) return unauthorized(message, p.challenge);
  // An invalid credential must not reach the upstream on the anonymous path either.
  if (p.hide) hideBoth(p, ctx);
  return attachAnonymousConsumer('key-auth', ctx, p.consumers, p.anonymous, p.challenge);
}

export default definePlugin<KeyAuthConf, KeyAuthPrepared>({
  name: 'key-auth',
  description: 'Adds key authentication: consumers present their API key in a header or query argument.',
  version: '0.1',
  stage: 'authorization',
  priority: 310,
  type: 'auth',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      header: { ...HEADER_NAME_SCHEMA, default: 'apikey' },
      query: { type: 'string', default: 'apikey' },
      realm: realmSchema('key'),
      hide_credentials: { type: 'boolean', default: false },
      anonymous_consumer: ANONYMOUS_CONSUMER_SCHEMA,
    },
  },
  consumerSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      key: { type: 'string', encrypted: true },
    },
    required: ['key'],
  },

  prepare(conf, env) {
    const realm = conf.realm ?? 'key';
    return {
      header: (conf.header ?? 'apikey').toLowerCase(),
      query: conf.query ?? 'apikey',
      hide: conf.hide_credentials === true,
      challenge: `apikey realm="${realm}"`,
      table: credentialTable(env.consumers, 'key-auth', 'key'),
      anonymous: conf.anonymous_consumer,
      consumers: env.consumers,
    };
  },

  rewrite(p, ctx) {
    let key = ctx.request.header(p.header);
    const fromHeader = key !== undefined;
    if (key === undefined) key = ctx.request.arg(p.query);
    if (key === undefined) return reject(p, ctx, 'Missing API key in request');

    const entry = p.table.get(key);
    if (entry === undefined) {
      ctx.log.warn('failed to find consumer: invalid api key');
      return reject(p, ctx, 'Invalid API key in request');
    }
    if (p.hide) {
      // Only the source actually used is removed, as APISIX does.
      if (fromHeader) ctx.request.setHeader(p.header, undefined);
      else ctx.request.upstreamUri = removeQueryArg(ctx.request.upstreamUri, p.query);
    }
    ctx.attachConsumer(entry.consumer);
    return undefined;
  },
});
