// ip-restriction: allows (whitelist) or rejects (blacklist) clients by IP address or
// CIDR (APISIX ip-restriction). Reads the `remote_addr` variable in access, so an
// address set by real-ip in rewrite is the one checked. On stream routes it runs at
// preread and closes a refused connection.
import { compileIpMatcher, type IpMatcher } from '../core/ip-matcher.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';

export interface IpRestrictionConf {
  message: string;
  response_code: number;
  whitelist?: string[];
  blacklist?: string[];
}

interface IpRestrictionPrepared {
  matcher: IpMatcher;
  /** true: a match is allowed (whitelist); false: a match is blocked (blacklist). */
  allow: boolean;
  status: number;
  message: string;
}

export default definePlugin<IpRestrictionConf, IpRestrictionPrepared>({
  name: 'ip-restriction',
  description: 'Allows or denies access by client IP address or CIDR range.',
  version: '0.1',
  stage: 'authorization',
  priority: 210,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      message: { type: 'string', minLength: 1, maxLength: 1024, default: 'Your IP address is not allowed' },
      response_code: { type: 'integer', minimum: 403, maximum: 404, default: 403 },
      whitelist: { type: 'array', items: { type: 'string' }, minItems: 1 },
      blacklist: { type: 'array', items: { type: 'string' }, minItems: 1 },
    },
    // APISIX's rule and message: exactly one of the two lists.
    oneOf: [
      { required: ['whitelist'] },
      { required: ['blacklist'] },
    ],
  },

  prepare(conf) {
    if (conf.whitelist !== undefined && conf.blacklist !== undefined) {
      throw new Error('only one of whitelist or blacklist is allowed');
    }
    const list = conf.whitelist ?? conf.blacklist;
    if (list === undefined) throw new Error('one of whitelist or blacklist is required');
    return {
      matcher: compileIpMatcher(list), // throws `invalid ip address: X`, APISIX's message
      allow: conf.whitelist !== undefined,
      status: conf.response_code ?? 403,
      message: conf.message ?? 'Your IP address is not allowed',
    };
  },

  access(p, ctx) {
    const addr = ctx.var('remote_addr');
    const ip = typeof addr === 'string' ? addr : ctx.request.remoteAddr;
    if (p.matcher(ip) === p.allow) return undefined;
    return { status: p.status, body: { message: p.message } };
  },

  // APISIX's stream ip-restriction: a refused client's connection is closed (stream status 403).
  stream: {
    preread(p, session) {
      if (p.matcher(session.remoteAddr) === p.allow) return undefined;
      return { status: 403, reason: 'ip-restriction: client address not allowed' };
    },
  },
});
