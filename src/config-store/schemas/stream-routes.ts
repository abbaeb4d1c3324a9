// Stream route schema (APISIX `schema_def.lua` _M.stream_route). `protocol` (xRPC: redis,
// dubbo subordinate routes) is not accepted: there is no xRPC layer to run it.
import { HOST_PATTERN, idSchema, ipDef, metadataProps, pluginsSchema, remoteAddrDef, type Schema } from './common.js';
import { upstreamSchema } from './upstreams.js';

export const streamRouteSchema: Schema = {
  type: 'object',
  properties: {
    ...metadataProps(),
    remote_addr: remoteAddrDef,
    server_addr: { description: 'server IP', type: 'string', anyOf: ipDef },
    server_port: { description: 'server port', type: 'integer', minimum: 1, maximum: 65535 },
    sni: { description: 'server name indication', type: 'string', pattern: HOST_PATTERN },
    upstream: upstreamSchema,
    upstream_id: idSchema,
    service_id: idSchema,
    plugins: pluginsSchema,
  },
  additionalProperties: false,
};
