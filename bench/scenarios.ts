// The bench scenarios and the gateway route tables they need.
import { stringify } from 'yaml';
import { AI_CHAT_REQUEST, AI_PATH, AI_STREAM_BYTES } from './ai-chat.js';
import { GRPC_PATH, GRPC_REPLY, GRPC_REQUEST } from './grpc-unary.js';

export type TargetId = 'baseline' | 'gateway' | 'gateway-10k' | 'gateway-plugins' | 'gateway-security' | 'gateway-transformer' | 'gateway-cache' | 'gateway-deadlog' | 'gateway-otel' | 'gateway-otel-unsampled' | 'gateway-otel-dead' | 'gateway-wasm' | 'gateway-ts' | 'gateway-ai' | 'llm-direct' | 'gateway-grpc' | 'grpc-direct' | 'nginx' | 'haproxy';
export type ScenarioId = '1route' | '10k' | 'plugins' | 'security' | 'transformer' | 'cache' | 'wasm' | 'deadlog' | 'otel' | 'ai' | '1k' | '64k' | '1m' | 'h2' | 'grpc';

export interface Scenario {
  id: ScenarioId;
  title: string;
  /** Path requested on every target. */
  path: string;
  /** Expected response body size, checked once per target before loading. */
  bodyBytes: number;
  /** Targets loaded in this scenario, in round order (rotated each round). */
  targets: TargetId[];
  /** What every request sends instead of a plain GET. */
  request?: BenchRequest;
  /** The row the others' req/s is divided by in the table (default `baseline`). */
  reference?: TargetId;
  /** `h2`: loaded by h2load over h2c (prior knowledge) instead of the HTTP/1.1 loader. */
  protocol?: 'h2';
  /** gRPC calls: the preflight wants a gRPC success (grpc-status 0 in the trailers), not just HTTP 200. */
  grpc?: true;
}

export interface BenchRequest { method: 'POST'; headers: Record<string, string>; body: string }

/** The transformer scenario's request: a POST with a ~200-byte JSON body, a header and query arguments its rules change. */
export const TRANSFORMER_REQUEST: BenchRequest = {
  method: 'POST',
  headers: { 'content-type': 'application/json', 'x-debug': '1' },
  body: JSON.stringify({
    user: { id: 12345, name: 'Alice Example', email: 'alice@example.com' },
    order: { id: 'ord-000042', items: [{ sku: 'A-1', qty: 2 }, { sku: 'B-7', qty: 1 }], total: 42.5 },
    debug: true, client: 'bench',
  }),
};
export const TRANSFORMER_PATH = '/hello?q=books&debug=1';

export const HELLO_BYTES = Buffer.byteLength('hello from the gatehouse bench upstream\n');
/** The measured route of the 10k-routes table (also answered by the 1-route catch-all). */
export const TARGET_PATH = '/bench/target';
/** The plugins scenario authenticates with key-auth's query argument (the load generators send no custom headers). */
export const PLUGINS_PATH = '/hello?apikey=bench-key';

/** The h2 scenario's load: 100 concurrent streams, 25 on each of 4 connections (h2load `-c 4 -m 25`). */
export const H2_CONNECTIONS = 4;
export const H2_STREAMS_PER_CONNECTION = 25;

export const SCENARIOS: readonly Scenario[] = [
  { id: '1route', title: '1 route, small body', path: '/hello', bodyBytes: HELLO_BYTES, targets: ['baseline', 'gateway', 'nginx', 'haproxy'] },
  // gateway (1 route) is loaded again here, interleaved with gateway (10k routes), so their ratio
  // compares runs made minutes apart under the same conditions rather than across scenarios.
  { id: '10k', title: '10,000 routes, target route defined last', path: TARGET_PATH, bodyBytes: HELLO_BYTES, targets: ['baseline', 'gateway', 'gateway-10k'] },
  // The same catch-all route with and without a typical plugin set, interleaved; nginx and HAProxy
  // proxy the same request plainly (no plugins: they show the cost of the two legs alone).
  { id: 'plugins', title: 'plugins: key-auth + limit-count + proxy-rewrite + cors + prometheus', path: PLUGINS_PATH, bodyBytes: HELLO_BYTES, targets: ['baseline', 'gateway', 'gateway-plugins', 'nginx', 'haproxy'] },
  // The security set of issue 14: key-auth + waf (its default rules) + request-validation, with
  // prometheus for the per-plugin cost table; interleaved with the route without plugins.
  { id: 'security', title: 'security: key-auth + waf (default rules) + request-validation', path: PLUGINS_PATH, bodyBytes: HELLO_BYTES, targets: ['gateway', 'gateway-security'] },
  // transformer rewriting the request's JSON body, a header and the query (issue 15: report the ratio).
  { id: 'transformer', title: 'transformer rewriting a small JSON body', path: TRANSFORMER_PATH, bodyBytes: HELLO_BYTES, targets: ['gateway', 'gateway-transformer'], request: TRANSFORMER_REQUEST },
  // proxy-cache in memory with every request a HIT, against the same route without it (issue 15: goal ≥ 1.5×).
  { id: 'cache', title: 'proxy-cache in memory, every request a hit', path: '/hello', bodyBytes: HELLO_BYTES, targets: ['gateway', 'gateway-cache'] },
  // One plugin that sets one request header: a proxy-wasm module (test/fixtures/wasm/set-header.wat)
  // beside proxy-rewrite doing the same in TypeScript, and the route without either.
  { id: 'wasm', title: 'one plugin setting a request header: proxy-wasm vs TypeScript', path: '/hello', bodyBytes: HELLO_BYTES, targets: ['gateway', 'gateway-wasm', 'gateway-ts'] },
  // http-logger shipping every entry to a port where nothing listens: what a dead log sink costs.
  { id: 'deadlog', title: 'http-logger with a dead sink (connection refused)', path: '/hello', bodyBytes: HELLO_BYTES, targets: ['gateway', 'gateway-deadlog'] },
  // opentelemetry sampling every request (trace_id_ratio 1.0), its spans posted to a local sink that accepts and
  // discards them (issue 18: goal ≥ 0.85×), and the same with the collector dead (connection refused: goal ≥ 0.95× of a live one).
  { id: 'otel', title: 'opentelemetry, trace_id_ratio 1.0, spans to a local collector sink (or a dead one); trace context alone at ratio 0', path: '/hello', bodyBytes: HELLO_BYTES, targets: ['gateway', 'gateway-otel', 'gateway-otel-unsampled', 'gateway-otel-dead'] },
  // A streamed chat through ai-proxy + ai-statistics against the fake provider answering it directly (issue 16: report the ratio).
  { id: 'ai', title: 'streamed chat: ai-proxy + ai-statistics vs the provider directly', path: AI_PATH, bodyBytes: AI_STREAM_BYTES, targets: ['llm-direct', 'gateway-ai'], request: AI_CHAT_REQUEST, reference: 'llm-direct' },
  { id: '1k', title: '1 KiB body (1 route)', path: '/bytes/1024', bodyBytes: 1024, targets: ['baseline', 'gateway', 'nginx', 'haproxy'] },
  { id: '64k', title: '64 KiB body (1 route)', path: '/bytes/65536', bodyBytes: 65536, targets: ['baseline', 'gateway', 'nginx', 'haproxy'] },
  { id: '1m', title: '1 MiB body (1 route)', path: '/bytes/1048576', bodyBytes: 1048576, targets: ['baseline', 'gateway', 'nginx', 'haproxy'] },
  // HTTP/2 downstream, h2c with prior knowledge: h2load with 100 concurrent streams; the
  // upstream leg stays HTTP/1.1 on both. The baseline speaks HTTP/1.1 only, so nginx is the reference.
  { id: 'h2', title: `HTTP/2 (h2c), ${H2_CONNECTIONS} connections × ${H2_STREAMS_PER_CONNECTION} streams, small body`, path: '/hello', bodyBytes: HELLO_BYTES, targets: ['gateway', 'nginx'], reference: 'nginx', protocol: 'h2' },
  // gRPC unary calls (h2load POSTing one framed message, the same 100 concurrent streams) to the
  // bench's gRPC server directly, through a `scheme: grpc` route, and through nginx's grpc_pass.
  {
    id: 'grpc', title: `gRPC unary (h2c), ${H2_CONNECTIONS} connections × ${H2_STREAMS_PER_CONNECTION} streams`, path: GRPC_PATH, bodyBytes: GRPC_REPLY.length,
    targets: ['grpc-direct', 'gateway-grpc', 'nginx'], reference: 'grpc-direct', protocol: 'h2', grpc: true, request: GRPC_REQUEST,
  },
];

export const TARGET_LABELS: Record<TargetId, string> = {
  baseline: 'baseline (node+undici)',
  gateway: 'gateway (1 route)',
  'gateway-10k': 'gateway (10k routes)',
  'gateway-plugins': 'gateway (5 plugins)',
  'gateway-security': 'gateway (key-auth+waf+validation)',
  'gateway-transformer': 'gateway (transformer)',
  'gateway-cache': 'gateway (proxy-cache hit)',
  'gateway-deadlog': 'gateway (dead log sink)',
  'gateway-otel': 'gateway (opentelemetry)',
  'gateway-otel-unsampled': 'gateway (otel, ratio 0)',
  'gateway-otel-dead': 'gateway (otel, dead collector)',
  'gateway-wasm': 'gateway (wasm plugin)',
  'gateway-ts': 'gateway (TS plugin)',
  'gateway-ai': 'gateway (ai-proxy+stats)',
  'llm-direct': 'fake LLM (direct)',
  'gateway-grpc': 'gateway (grpc route)',
  'grpc-direct': 'gRPC server (direct)',
  nginx: 'nginx (reference)',
  haproxy: 'HAProxy (reference)',
};

/** APISIX standalone file with one catch-all route to the upstream. */
export function oneRouteStandalone(upstreamPort: number): string {
  return standaloneYaml({
    upstreams: [{ id: 'u1', type: 'roundrobin', nodes: { [`127.0.0.1:${upstreamPort}`]: 1 } }],
    routes: [{ id: 'r1', uri: '/*', upstream_id: 'u1' }],
  });
}

/** The catch-all route with `plugins`, for consumer `bench` (key-auth key `bench-key`). */
function keyAuthRouteStandalone(upstreamPort: number, plugins: Record<string, unknown>): string {
  return standaloneYaml({
    upstreams: [{ id: 'u1', type: 'roundrobin', nodes: { [`127.0.0.1:${upstreamPort}`]: 1 } }],
    consumers: [{ username: 'bench', plugins: { 'key-auth': { key: 'bench-key' } } }],
    routes: [{ id: 'r1', uri: '/*', upstream_id: 'u1', plugins: { 'key-auth': {}, ...plugins, prometheus: {} } }],
  });
}

/** The 1-route file with key-auth, limit-count (a quota the bench never reaches), proxy-rewrite, cors and prometheus on the route. */
export function pluginsStandalone(upstreamPort: number): string {
  return keyAuthRouteStandalone(upstreamPort, {
    'limit-count': { count: 1_000_000_000, time_window: 3600, key_type: 'var', key: 'consumer_name' },
    'proxy-rewrite': { headers: { set: { 'x-bench': 'plugins' } } },
    cors: {},
  });
}

/** The 1-route file with key-auth, waf (default rules), request-validation (a header schema every request meets) and prometheus. */
export function securityStandalone(upstreamPort: number): string {
  return keyAuthRouteStandalone(upstreamPort, {
    waf: {},
    'request-validation': { header_schema: { type: 'object', required: ['host'], properties: { host: { type: 'string', minLength: 1 } } } },
  });
}

/** The 1-route file with transformer rules touching the body, headers and query of TRANSFORMER_REQUEST. */
export function transformerStandalone(upstreamPort: number): string {
  return standaloneYaml({
    upstreams: [{ id: 'u1', type: 'roundrobin', nodes: { [`127.0.0.1:${upstreamPort}`]: 1 } }],
    routes: [{
      id: 'r1', uri: '/*', upstream_id: 'u1',
      plugins: { transformer: { reqRules: [
        { operate: 'remove', headers: [{ key: 'x-debug' }], querys: [{ key: 'debug' }], body: [{ key: 'debug' }] },
        { operate: 'rename', querys: [{ oldKey: 'q', newKey: 'search' }], body: [{ oldKey: 'client', newKey: 'source' }] },
        { operate: 'replace', body: [{ key: 'order.total', newValue: '40', value_type: 'number' }] },
        { operate: 'add', headers: [{ key: 'x-transformed', value: 'yes' }], body: [{ key: 'via', value: 'gatehouse' }] },
        { operate: 'map', mapSource: 'body', headers: [{ fromKey: 'user.id', toKey: 'x-user-id' }] },
      ] } },
    }],
  });
}

/** The 1-route file with proxy-cache in the built-in memory zone, entries kept an hour: after the first request every one is a hit. */
export function cacheStandalone(upstreamPort: number): string {
  return standaloneYaml({
    upstreams: [{ id: 'u1', type: 'roundrobin', nodes: { [`127.0.0.1:${upstreamPort}`]: 1 } }],
    routes: [{
      id: 'r1', uri: '/*', upstream_id: 'u1',
      plugins: { 'proxy-cache': { cache_strategy: 'memory', cache_zone: 'memory_cache', cache_ttl: 3600 } },
    }],
  });
}

/** The 1-route file with one header-setting plugin: the wasm module `set-header` or proxy-rewrite. */
export function oneHeaderPluginStandalone(upstreamPort: number, kind: 'wasm' | 'ts'): string {
  return standaloneYaml({
    upstreams: [{ id: 'u1', type: 'roundrobin', nodes: { [`127.0.0.1:${upstreamPort}`]: 1 } }],
    routes: [{
      id: 'r1', uri: '/*', upstream_id: 'u1',
      plugins: kind === 'wasm' ? { 'set-header': {} } : { 'proxy-rewrite': { headers: { set: { 'x-wasm': '{}' } } } },
    }],
  });
}

/** The 1-route file with http-logger sending batches to `deadPort`, where nothing listens. */
export function deadLogSinkStandalone(upstreamPort: number, deadPort: number): string {
  return standaloneYaml({
    upstreams: [{ id: 'u1', type: 'roundrobin', nodes: { [`127.0.0.1:${upstreamPort}`]: 1 } }],
    routes: [{
      id: 'r1', uri: '/*', upstream_id: 'u1',
      plugins: { 'http-logger': { uri: `http://127.0.0.1:${deadPort}/logs`, batch_max_size: 1000, inactive_timeout: 1, max_retry_count: 2, retry_delay: 1 } },
    }],
  });
}

/**
 * The 1-route file with opentelemetry sampling every request (`fraction` 1), exporting to the sink on `sinkPort`
 * (default batching); at `fraction` 0 no span is kept and what is left is the trace context (ids, traceparent upstream).
 */
export function otelStandalone(upstreamPort: number, sinkPort: number, fraction = 1.0): string {
  return standaloneYaml({
    plugin_metadata: [{ id: 'opentelemetry', collector: { address: `127.0.0.1:${sinkPort}` }, resource: { 'service.name': 'bench' } }],
    upstreams: [{ id: 'u1', type: 'roundrobin', nodes: { [`127.0.0.1:${upstreamPort}`]: 1 } }],
    routes: [{
      id: 'r1', uri: '/*', upstream_id: 'u1',
      plugins: { opentelemetry: { sampler: { name: 'trace_id_ratio', options: { fraction } } } },
    }],
  });
}

/** One route for the chat path, no upstream: ai-proxy sends it to the fake provider on `llmPort`, ai-statistics counts its tokens. */
export function aiStandalone(llmPort: number): string {
  return standaloneYaml({
    routes: [{
      id: 'r1', uri: AI_PATH,
      plugins: {
        'ai-proxy': { provider: 'openai-compatible', auth: { header: { Authorization: 'Bearer bench-provider-key' } }, override: { endpoint: `http://127.0.0.1:${llmPort}${AI_PATH}` } },
        'ai-statistics': {},
      },
    }],
  });
}

/**
 * APISIX standalone file with 10,000 routes: 9,999 others (exact and prefix URIs, some with `hosts`,
 * some with `methods`, near-misses of the target path, and decoys on the very same path that differ
 * only by host or method) and the measured exact route `/bench/target` defined last. Every other route
 * points at `deadPort`, where nothing listens, so a request the router sends to the wrong route
 * shows up as 5xx errors instead of a silently wrong measurement.
 */
export function tenKRoutesStandalone(upstreamPort: number, deadPort: number): string {
  const routes: Record<string, unknown>[] = [
    { id: 'decoy-host', uri: TARGET_PATH, hosts: ['decoy.example.com'], upstream_id: 'u-other' },
    { id: 'decoy-method', uri: TARGET_PATH, methods: ['POST', 'PUT'], upstream_id: 'u-other' },
    { id: 'decoy-prefix', uri: '/bench/*', hosts: ['decoy.example.com'], upstream_id: 'u-other' },
  ];
  for (let i = 0; routes.length < 9_999; i++) {
    const id = `r${i}`;
    switch (i % 8) {
      case 0: routes.push({ id, uri: `/api/v1/resource-${i}`, upstream_id: 'u-other' }); break;
      case 1: routes.push({ id, uri: `/svc-${i}/*`, upstream_id: 'u-other' }); break;
      case 2: routes.push({ id, uri: `/api/v1/resource-${i}`, hosts: [`svc-${i}.example.com`], upstream_id: 'u-other' }); break;
      case 3: routes.push({ id, uri: `/svc-${i}/*`, methods: ['POST', 'PUT'], upstream_id: 'u-other' }); break;
      case 4: routes.push({ id, uri: `${TARGET_PATH}-${i}`, upstream_id: 'u-other' }); break;
      case 5: routes.push({ id, uris: [`/api/v2/items-${i}`, `/api/v2/items-${i}/*`], methods: ['GET'], hosts: ['api.example.com', `*.tenant-${i}.example.com`], upstream_id: 'u-other' }); break;
      case 6: routes.push({ id, uri: `/bench/t${i}/*`, upstream_id: 'u-other' }); break;
      default: routes.push({ id, uri: `/api/v1/resource-${i}/details`, methods: ['GET', 'HEAD'], upstream_id: 'u-other' }); break;
    }
  }
  routes.push({ id: 'target', uri: TARGET_PATH, upstream_id: 'u1' });
  return standaloneYaml({
    upstreams: [
      { id: 'u1', type: 'roundrobin', nodes: { [`127.0.0.1:${upstreamPort}`]: 1 } },
      { id: 'u-other', type: 'roundrobin', nodes: { [`127.0.0.1:${deadPort}`]: 1 } },
    ],
    routes,
  });
}

/** One route for the bench's gRPC service, to the gRPC server over h2c (`scheme: grpc`). */
export function grpcStandalone(grpcPort: number): string {
  return standaloneYaml({
    routes: [{ id: 'grpc', uri: '/bench.Bench/*', upstream: { type: 'roundrobin', scheme: 'grpc', nodes: { [`127.0.0.1:${grpcPort}`]: 1 } } }],
  });
}

/** One stream route (any client, any listener) to the TCP echo server. */
export function tcpEchoStandalone(echoPort: number): string {
  return standaloneYaml({
    stream_routes: [{ id: 'echo', upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${echoPort}`]: 1 } } }],
  });
}

function standaloneYaml(doc: Record<string, unknown>): string {
  // `#END` marks a complete file in APISIX's standalone format (a half-written file has none).
  return stringify(doc, { lineWidth: 0 }) + '#END\n';
}

/** The node config (`config.yaml`) for one gateway instance. */
export function gatewayNodeConfig(opts: { port: number; adminPort: number; metricsPort: number; standaloneFile: string; wasmFile?: string; streamPort?: number }): string {
  return stringify({
    ...(opts.wasmFile !== undefined ? { wasm: { plugins: [{ name: 'set-header', file: opts.wasmFile, priority: 0 }] } } : {}),
    ...(opts.streamPort !== undefined ? { stream_proxy: { tcp: [`127.0.0.1:${opts.streamPort}`] } } : {}),
    node: { listen: [{ host: '127.0.0.1', port: opts.port }], workers: 1 },
    admin: { listen: { host: '127.0.0.1', port: opts.adminPort } },
    prometheus: { export: { listen: { host: '127.0.0.1', port: opts.metricsPort } } },
    store: { type: 'standalone', standalone: { file: opts.standaloneFile } },
    log: { level: 'warn' },
  });
}

/** nginx.conf for the reference row: 1 worker, keep-alive upstream pool, everything inside `dir`. */
/** The start of every nginx config the bench writes: one worker, logs and temp files inside `d`, up to `http {`. */
function nginxPreamble(d: string, role: string): string {
  return `# generated by gatehouse bench: ${role}
worker_processes 1;
pid ${d}/nginx.pid;
error_log ${d}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${d}/client_body;
  proxy_temp_path ${d}/proxy_temp;
  fastcgi_temp_path ${d}/fastcgi_temp;
  uwsgi_temp_path ${d}/uwsgi_temp;
  scgi_temp_path ${d}/scgi_temp;`;
}

/** Body sizes the upstream serves at /bytes/<n> (the 1k, 64k and 1m scenarios). */
export const UPSTREAM_BODY_SIZES = [1024, 64 * 1024, 1024 * 1024];

/**
 * The bench upstream when nginx is installed: the same answers as bench/upstream-server.ts
 * (/hello and /bench/target: the 40-byte text, any method; /bytes/<n>: n bytes of 'x' from a
 * file, sent with sendfile) at a fraction of node's CPU per request, so that on the driver
 * CPU it is not what limits the fastest proxies.
 */
export function nginxUpstreamConfig(opts: { dir: string; port: number }): string {
  const d = opts.dir;
  return `${nginxPreamble(d, 'the upstream')}
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  sendfile on;
  open_file_cache max=16;
  server_tokens off;
  server {
    listen 127.0.0.1:${opts.port};
    location = /hello { default_type text/plain; return 200 "hello from the gatehouse bench upstream\\n"; }
    location = /bench/target { default_type text/plain; return 200 "hello from the gatehouse bench upstream\\n"; }
    location /bytes/ { root ${d}/files; default_type application/octet-stream; }
  }
}
`;
}

export function nginxConfig(opts: { dir: string; port: number; h2Port: number; upstreamPort: number; grpcPort?: number }): string {
  const d = opts.dir;
  // the grpc scenario: grpc_pass (h2c) to the bench's gRPC server, idle connections kept as for proxy_pass
  const grpcUpstream = opts.grpcPort === undefined ? '' : `
  upstream bench_grpc {
    server 127.0.0.1:${opts.grpcPort};
    keepalive 64;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }`;
  const grpcLocation = opts.grpcPort === undefined ? '' : `
    location ${GRPC_PATH.slice(0, GRPC_PATH.lastIndexOf('/') + 1)} {
      grpc_pass grpc://bench_grpc;
    }`;
  return `${nginxPreamble(d, 'a proxy under test')}
  # Node's http server keeps a client connection for any number of requests; match it.
  keepalive_requests 1000000;
  keepalive_timeout 65s;
  upstream bench_upstream {
    server 127.0.0.1:${opts.upstreamPort};
    keepalive 64;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }${grpcUpstream}
  server {
    listen 127.0.0.1:${opts.port};
    # h2c with prior knowledge (the h2 scenario): a listener of its own, as nginx takes no HTTP/1.1 on it
    listen 127.0.0.1:${opts.h2Port} http2;
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      # stream large bodies from memory buffers, never spool them to disk
      proxy_max_temp_file_size 0;
    }${grpcLocation}
  }
}
`;
}

/**
 * haproxy.cfg for the reference row: 1 thread, keep-alive both ways with idle upstream connections
 * shared between clients (`http-reuse always`), no logs, X-Forwarded-For added as nginx and the
 * gateway do. Runs in the foreground (`-db`), so it needs no pid file.
 */
export function haproxyConfig(opts: { port: number; upstreamPort: number }): string {
  return `# generated by gatehouse bench
global
  nbthread 1
  # the FD limit follows maxconn (2 per connection): 4096 fits a 20k ulimit and far exceeds --connections
  maxconn 4096

defaults
  mode http
  option http-keep-alive
  option forwardfor
  http-reuse always
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 65s

frontend bench
  bind 127.0.0.1:${opts.port}
  default_backend bench_upstream

backend bench_upstream
  server upstream 127.0.0.1:${opts.upstreamPort}
`;
}
