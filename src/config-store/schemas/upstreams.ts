// Upstream schema (APISIX `schema_def.lua` upstream_schema / health_checker), used for
// `upstreams` objects and for inline `upstream` fields of routes and services.
import {
  certificateSchema, hostDef, HTTP_METHODS, idSchema, metadataProps, privateKeySchema, timeoutDef,
  type Schema,
} from './common.js';

const statusList = (defaults: number[]): Schema => ({
  type: 'array',
  minItems: 1,
  items: { type: 'integer', minimum: 200, maximum: 599 },
  uniqueItems: true,
  default: defaults,
});
const counter = (def: number, minimum = 1): Schema => ({ type: 'integer', minimum, maximum: 254, default: def });

export const healthCheckActiveSchema: Schema = {
  type: 'object',
  properties: {
    type: { type: 'string', enum: ['http', 'https', 'tcp'], default: 'http' },
    timeout: { type: 'number', default: 1 },
    concurrency: { type: 'integer', default: 10 },
    host: hostDef,
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    http_method: { type: 'string', enum: HTTP_METHODS, default: 'GET' },
    http_path: { type: 'string', default: '/' },
    http_req_body: { type: 'string', default: '' },
    https_verify_certificate: { type: 'boolean', default: true },
    healthy: {
      type: 'object',
      properties: {
        interval: { type: 'integer', minimum: 1, default: 1 },
        http_statuses: statusList([200, 302]),
        successes: counter(2),
      },
    },
    unhealthy: {
      type: 'object',
      properties: {
        interval: { type: 'integer', minimum: 1, default: 1 },
        http_statuses: statusList([429, 404, 500, 501, 502, 503, 504, 505]),
        http_failures: counter(5),
        tcp_failures: counter(2),
        timeouts: counter(3),
      },
    },
    req_headers: { type: 'array', minItems: 1, items: { type: 'string' } },
  },
};

export const healthCheckPassiveSchema: Schema = {
  type: 'object',
  properties: {
    type: { type: 'string', enum: ['http', 'https', 'tcp'], default: 'http' },
    healthy: {
      type: 'object',
      properties: {
        http_statuses: statusList([200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
          300, 301, 302, 303, 304, 305, 306, 307, 308]),
        successes: counter(5, 0),
      },
    },
    unhealthy: {
      type: 'object',
      properties: {
        http_statuses: statusList([429, 500, 503]),
        tcp_failures: counter(2, 0),
        timeouts: counter(7, 0),
        http_failures: counter(5, 0),
      },
    },
  },
};

// Passive checks only mark nodes down; without an active checker nothing brings them
// back, which is why APISIX requires `active` whenever `checks` is set.
export const healthCheckerSchema: Schema = {
  type: 'object',
  properties: { active: healthCheckActiveSchema, passive: healthCheckPassiveSchema },
  anyOf: [{ required: ['active'] }, { required: ['active', 'passive'] }],
};

export const nodesSchema: Schema = {
  anyOf: [
    {
      // map form `"host:port": weight`; validate.ts turns it into the array form
      type: 'object',
      patternProperties: { '.*': { description: 'weight of node', type: 'integer', minimum: 0 } },
    },
    {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          host: hostDef,
          port: { type: 'integer', minimum: 1, maximum: 65535 },
          weight: { type: 'integer', minimum: 0 },
          priority: { type: 'integer', default: 0 },
          metadata: { type: 'object' },
        },
        required: ['host', 'weight'],
      },
    },
  ],
};

export const upstreamSchema: Schema = {
  type: 'object',
  properties: {
    ...metadataProps(),
    nodes: nodesSchema,
    retries: { type: 'integer', minimum: 0 },
    retry_timeout: { type: 'number', minimum: 0 },
    timeout: timeoutDef,
    tls: {
      type: 'object',
      properties: {
        client_cert_id: idSchema,
        client_cert: certificateSchema,
        client_key: privateKeySchema,
        verify: { type: 'boolean', default: false },
      },
      dependencies: {
        client_cert: { required: ['client_key'] },
        client_key: { required: ['client_cert'] },
        client_cert_id: { not: { required: ['client_cert', 'client_key'] } },
      },
    },
    keepalive_pool: {
      type: 'object',
      properties: {
        size: { type: 'integer', minimum: 1, default: 320 },
        idle_timeout: { type: 'number', minimum: 0, default: 60 },
        requests: { type: 'integer', minimum: 1, default: 1000 },
      },
    },
    // APISIX 3.18 accepts any string here (pluggable balancers); we only have these four,
    // so an unknown name is refused at write time instead of failing every request.
    type: { type: 'string', enum: ['roundrobin', 'chash', 'least_conn', 'ewma'], default: 'roundrobin' },
    checks: healthCheckerSchema,
    hash_on: {
      type: 'string',
      enum: ['vars', 'header', 'cookie', 'consumer', 'vars_combinations'],
      default: 'vars',
    },
    key: { type: 'string' },
    // HTTP/1.1 to http and https upstreams, HTTP/2 (h2c by prior knowledge, h2 over TLS) to
    // grpc and grpcs ones (docs/grpc.md). `http2` (h2c by prior knowledge, plain HTTP) is a
    // Gatehouse extension APISIX does not have (docs/http2.md). APISIX's tcp/udp/kafka
    // schemes have no implementation here.
    scheme: { type: 'string', enum: ['http', 'https', 'grpc', 'grpcs', 'http2'], default: 'http' },
    pass_host: { type: 'string', enum: ['pass', 'node', 'rewrite'], default: 'pass' },
    upstream_host: hostDef,
    // Service discovery (docs/discovery.md): the nodes come from the registry the node config
    // enables under this type; the Admin API refuses a type it does not enable.
    service_name: { type: 'string', minLength: 1, maxLength: 256 },
    discovery_type: { type: 'string', minLength: 1 },
    discovery_args: {
      type: 'object',
      properties: {
        namespace_id: { type: 'string' },
        group_name: { type: 'string' },
      },
    },
  },
  // APISIX's: the servers are either listed or discovered.
  oneOf: [{ required: ['nodes'] }, { required: ['service_name', 'discovery_type'] }],
  additionalProperties: false,
};

// chash `key` formats by `hash_on` (APISIX upstream_hash_*_schema).
export const hashVarsKeySchema: Schema = {
  type: 'string',
  pattern: '^((uri|server_name|server_addr|request_uri|remote_port|remote_addr|query_string|host|hostname'
    + '|mqtt_client_id)|arg_[0-9a-zA-z_-]+)$',
};
export const hashHeaderKeySchema: Schema = { type: 'string', pattern: '^[a-zA-Z0-9-_]+$' };
export const hashCombinationsKeySchema: Schema = { type: 'string' };
