// basic-auth: identifies the consumer by HTTP Basic credentials (RFC 7617) matched
// against consumers' `username` / `password`. APISIX basic-auth 3.x schema, messages
// and `WWW-Authenticate: Basic realm="basic"` challenge. Passwords are compared in
// constant time (SHA-256 digests + timingSafeEqual), also when the user is unknown.
import type { ConsumerRef, PluginContext } from '../contracts/plugin.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import {
  ANONYMOUS_CONSUMER_SCHEMA, HashedSecret, credentialTable, findAnonymousConsumer, realmSchema, unauthorized,
} from './common/auth.js';

export interface BasicAuthConf {
  hide_credentials: boolean;
  realm: string;
  anonymous_consumer?: string;
}

interface BasicUser {
  consumer: ConsumerRef;
  password: HashedSecret;
}

interface BasicAuthPrepared {
  hide: boolean;
  challenge: string;
  users: ReadonlyMap<string, BasicUser>;
  anonymous: string | undefined;
  consumers: readonly ConsumerRef[];
}

// Hashed passwords per consumers list, so routes sharing a snapshot share the work.
const userTables = new WeakMap<ReadonlyMap<string, unknown>, Map<string, BasicUser>>();
// Compared against when the user is unknown, so timing does not tell users apart.
const DUMMY = new HashedSecret('\u0000gatehouse-basic-auth-dummy');

const BASIC = /^basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i;

/** `[username, password]` from an Authorization header, or an error string. */
export function parseBasic(header: string): [string, string] | string {
  const m = BASIC.exec(header);
  if (m === null) return 'Invalid authorization header format';
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return `Split authorization err: invalid decoded data: ${decoded}`;
  // RFC 7617: the user-id cannot contain a colon, the password can.
  return [decoded.slice(0, colon), decoded.slice(colon + 1)];
}

function users(consumers: readonly ConsumerRef[]): Map<string, BasicUser> {
  const table = credentialTable<{ username: string; password: unknown }>(consumers, 'basic-auth', 'username');
  let out = userTables.get(table);
  if (out === undefined) {
    out = new Map();
    for (const [username, entry] of table) {
      if (typeof entry.conf.password !== 'string') continue;
      out.set(username, { consumer: entry.consumer, password: new HashedSecret(entry.conf.password) });
    }
    userTables.set(table, out);
  }
  return out;
}

function authenticate(p: BasicAuthPrepared, ctx: PluginContext): ConsumerRef | string {
  const header = ctx.request.header('authorization');
  if (header === undefined) return 'Missing authorization in request';
  const parsed = parseBasic(header);
  if (typeof parsed === 'string') {
    ctx.log.warn(parsed);
    return 'Invalid authorization in request';
  }
  const [username, password] = parsed;
  const user = p.users.get(username);
  if (user === undefined) {
    DUMMY.matches(password);
    ctx.log.warn('failed to find user: invalid user');
    return 'Invalid user authorization';
  }
  if (!user.password.matches(password)) return 'Invalid user authorization';
  return user.consumer;
}

export default definePlugin<BasicAuthConf, BasicAuthPrepared>({
  name: 'basic-auth',
  description: 'Adds Basic Authentication: consumers authenticate with a username and password.',
  version: '0.1',
  stage: 'authorization',
  priority: 320,
  type: 'auth',
  schema: {
    type: 'object',
    additionalProperties: false,
    title: 'work with route or service object',
    properties: {
      hide_credentials: { type: 'boolean', default: false },
      realm: realmSchema('basic'),
      anonymous_consumer: ANONYMOUS_CONSUMER_SCHEMA,
    },
  },
  consumerSchema: {
    type: 'object',
    additionalProperties: false,
    title: 'work with consumer object',
    properties: {
      username: { type: 'string' },
      password: { type: 'string', encrypted: true },
    },
    required: ['username', 'password'],
  },

  prepare(conf, env) {
    return {
      hide: conf.hide_credentials === true,
      challenge: `Basic realm="${conf.realm ?? 'basic'}"`,
      users: users(env.consumers),
      anonymous: conf.anonymous_consumer,
      consumers: env.consumers,
    };
  },

  rewrite(p, ctx) {
    let found = authenticate(p, ctx);
    if (typeof found === 'string') {
      if (p.anonymous === undefined) return unauthorized(found, p.challenge);
      const anon = findAnonymousConsumer(p.consumers, p.anonymous);
      if (anon === undefined) {
        ctx.log.error(`basic-auth failed to authenticate the request, code: 401. error: anonymous consumer ${p.anonymous} not found`);
        return unauthorized('Invalid user authorization', p.challenge);
      }
      found = anon;
    }
    if (p.hide) ctx.request.setHeader('authorization', undefined);
    ctx.attachConsumer(found);
    return undefined;
  },
});
