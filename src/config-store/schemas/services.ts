// Service schema (APISIX `schema_def.lua` _M.service), without the Lua-only `script`.
import { hostDef, idSchema, metadataProps, pluginsSchema, type Schema } from './common.js';
import { upstreamSchema } from './upstreams.js';

export const serviceSchema: Schema = {
  type: 'object',
  properties: {
    ...metadataProps(),
    plugins: pluginsSchema,
    upstream: upstreamSchema,
    upstream_id: idSchema,
    enable_websocket: { description: 'enable websocket for request', type: 'boolean' },
    hosts: { type: 'array', items: hostDef, minItems: 1, uniqueItems: true },
  },
  additionalProperties: false,
};
