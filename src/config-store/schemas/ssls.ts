// SSL schema (APISIX `schema_def.lua` _M.ssl): a server certificate chosen by SNI, or a
// client certificate an upstream presents (`type: client`, referenced by
// `upstream.tls.client_cert_id`).
import { certificateSchema, HOST_PATTERN, metadataProps, privateKeySchema, type Schema } from './common.js';

export const sslSchema: Schema = {
  type: 'object',
  properties: {
    ...metadataProps({ name: false }),
    type: {
      description: 'server to server certificate, client to client certificate for upstream',
      type: 'string',
      enum: ['server', 'client'],
      default: 'server',
    },
    cert: certificateSchema,
    key: privateKeySchema,
    sni: { type: 'string', pattern: HOST_PATTERN },
    snis: { type: 'array', items: { type: 'string', pattern: HOST_PATTERN }, minItems: 1 },
    certs: { type: 'array', items: certificateSchema },
    keys: { type: 'array', items: privateKeySchema },
    client: {
      type: 'object',
      properties: {
        ca: certificateSchema,
        depth: { type: 'integer', minimum: 0, default: 1 },
        skip_mtls_uri_regex: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string' } },
      },
      required: ['ca'],
    },
    status: { description: 'ssl status, 1 to enable, 0 to disable', type: 'integer', enum: [1, 0], default: 1 },
    ssl_protocols: {
      type: 'array',
      maxItems: 3,
      uniqueItems: true,
      items: { enum: ['TLSv1.1', 'TLSv1.2', 'TLSv1.3'] },
    },
  },
  if: { properties: { type: { enum: ['server'] } } },
  then: { oneOf: [{ required: ['sni', 'key', 'cert'] }, { required: ['snis', 'key', 'cert'] }] },
  else: { required: ['key', 'cert'] },
  additionalProperties: false,
};
