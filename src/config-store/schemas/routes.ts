// Route schema (APISIX `schema_def.lua` _M.route). Lua-only fields (`filter_func`,
// `script`, `script_id`) are not accepted: there is no Lua runtime to run them.
import {
  hostDef, idSchema, metadataProps, methodSchema, pluginsSchema, remoteAddrDef, timeoutDef,
  type Schema,
} from './common.js';
import { upstreamSchema } from './upstreams.js';

const exclusive = (a: string, b: string): Schema => ({
  oneOf: [
    { not: { anyOf: [{ required: [a] }, { required: [b] }] } },
    { required: [a] },
    { required: [b] },
  ],
});

export const routeSchema: Schema = {
  type: 'object',
  properties: {
    ...metadataProps(),
    uri: { type: 'string', minLength: 1, maxLength: 4096 },
    uris: { type: 'array', items: { description: 'HTTP uri', type: 'string' }, minItems: 1, uniqueItems: true },
    priority: { type: 'integer', default: 0 },
    methods: { type: 'array', items: methodSchema, uniqueItems: true },
    host: hostDef,
    hosts: { type: 'array', items: hostDef, minItems: 1, uniqueItems: true },
    remote_addr: remoteAddrDef,
    remote_addrs: { type: 'array', items: remoteAddrDef, minItems: 1, uniqueItems: true },
    timeout: timeoutDef,
    vars: { type: 'array' },
    plugins: pluginsSchema,
    plugin_config_id: idSchema,
    upstream: upstreamSchema,
    service_id: idSchema,
    upstream_id: idSchema,
    enable_websocket: { description: 'enable websocket for request', type: 'boolean' },
    status: { description: 'route status, 1 to enable, 0 to disable', type: 'integer', enum: [1, 0], default: 1 },
  },
  allOf: [
    { oneOf: [{ required: ['uri'] }, { required: ['uris'] }] },
    exclusive('host', 'hosts'),
    exclusive('remote_addr', 'remote_addrs'),
  ],
  anyOf: [
    { required: ['plugins', 'uri'] },
    { required: ['upstream', 'uri'] },
    { required: ['upstream_id', 'uri'] },
    { required: ['service_id', 'uri'] },
    { required: ['plugins', 'uris'] },
    { required: ['upstream', 'uris'] },
    { required: ['upstream_id', 'uris'] },
    { required: ['service_id', 'uris'] },
  ],
  additionalProperties: false,
};
