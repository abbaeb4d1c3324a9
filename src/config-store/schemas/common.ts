// Building blocks shared by the resource schemas. Field names, limits and patterns follow
// APISIX 3.x `apisix/schema_def.lua` so that files and Admin API bodies written for APISIX
// are accepted (and refused) the same way.
import type { JsonSchema } from '../../core/schema.js';

export type Schema = Record<string, unknown>;

/** Resource ids: a short token or a positive integer; compared as strings (`tostring`). */
export const idSchema: Schema = {
  anyOf: [
    { type: 'string', minLength: 1, maxLength: 64, pattern: '^[a-zA-Z0-9-_.]+$' },
    { type: 'integer', minimum: 1 },
  ],
};

// Hosts: `*` alone, or an optional leading `*` wildcard then name characters; brackets
// and colons admit IPv6 literals and `host:port` patterns.
export const HOST_PATTERN = '^\\*$|^\\*?[0-9a-zA-Z-._\\[\\]:]+$';
export const hostDef: Schema = { type: 'string', pattern: HOST_PATTERN };

const IPV4 = '([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])';
const IPV4_DEF = [IPV4, IPV4, IPV4, IPV4].join('\\.');
// As in APISIX: a loose IPv6/CIDR pattern (a strict one is unreadable); net.isIP is
// not available to JSON schema, and the router compiles the address anyway.
const IPV6_DEF = '([a-fA-F0-9]{0,4}:){1,8}(:[a-fA-F0-9]{0,4}){0,8}([a-fA-F0-9]{0,4})?';
export const ipDef: Schema[] = [
  { title: 'IPv4', type: 'string', format: 'ipv4' },
  { title: 'IPv4/CIDR', type: 'string', pattern: `^${IPV4_DEF}/([12]?[0-9]|3[0-2])$` },
  { title: 'IPv6', type: 'string', format: 'ipv6' },
  { title: 'IPv6/CIDR', type: 'string', pattern: `^${IPV6_DEF}/[0-9]{1,3}$` },
];
export const remoteAddrDef: Schema = { description: 'client IP', type: 'string', anyOf: ipDef };

export const timestampDef: Schema = { type: 'integer' };

export const labelsDef: Schema = {
  description: 'key/value pairs to specify attributes',
  type: 'object',
  patternProperties: { '.*': { type: 'string', pattern: '^\\S+$', minLength: 1, maxLength: 256 } },
};

export const ruleNameDef: Schema = { type: 'string', minLength: 1, maxLength: 256 };
export const descDef: Schema = { type: 'string', maxLength: 256 };

/** Plugin instances are checked by the plugin runtime (see `checkPlugins` in validate.ts). */
export const pluginsSchema: Schema = { type: 'object' };

export const timeoutDef: Schema = {
  type: 'object',
  properties: {
    connect: { type: 'number', exclusiveMinimum: 0 },
    send: { type: 'number', exclusiveMinimum: 0 },
    read: { type: 'number', exclusiveMinimum: 0 },
  },
  required: ['connect', 'send', 'read'],
};

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'CONNECT', 'TRACE', 'PURGE'];
export const methodSchema: Schema = { description: 'HTTP method', type: 'string', enum: HTTP_METHODS };

export const certificateSchema: Schema = { type: 'string', minLength: 128, maxLength: 64 * 1024 };
export const privateKeySchema: Schema = { type: 'string', minLength: 64, maxLength: 64 * 1024 };

/** The metadata fields every resource accepts (`id`, `name`, `desc`, `labels`, timestamps). */
export function metadataProps(opts: { name?: JsonSchema | false } = {}): Schema {
  const props: Schema = {
    id: idSchema,
    desc: descDef,
    labels: labelsDef,
    create_time: timestampDef,
    update_time: timestampDef,
  };
  if (opts.name !== false) props.name = opts.name ?? ruleNameDef;
  return props;
}
