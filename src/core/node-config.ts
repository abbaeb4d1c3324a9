// `conf/config.yaml`: parsed, checked against a closed schema (every object refuses
// unknown keys, so a typo such as `lisen` is an error instead of a silently ignored
// setting), defaults filled, `workers: auto` and relative paths resolved.
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isIP } from 'node:net';
import { parse as parseYaml } from 'yaml';
import type { NodeConfig } from '../contracts/node-config.js';
import { GatehouseError } from './errors.js';
import { compileSchema, primaryError, type ErrorObject } from './schema.js';
import { PROXY_CACHE_SCHEMA, resolveProxyCache } from './proxy-cache-config.js';
import { STREAM_PROXY_SCHEMA, resolveStreamProxy } from './stream-proxy-config.js';
import { DISCOVERY_SCHEMA, resolveDiscovery } from './discovery-config.js';

type Obj = Record<string, unknown>;

/**
 * `${{VAR}}` / `${{VAR:=default}}` substitution in a config file's text, before parsing
 * (as APISIX does, so YAML infers the type of the substituted value). Full-line comments
 * are left alone so a commented-out example cannot fail the file. Throws on an unset
 * variable without default.
 */
export function substituteEnv(text: string, env: NodeJS.ProcessEnv = process.env): string {
  return text.split('\n').map((line) => {
    if (/^\s*#/.test(line)) return line;
    return line.replace(/\$\{\{\s*([A-Za-z0-9_]+)\s*(?::=([^}]*?))?\s*\}\}/g, (_m, name: string, def?: string) => {
      const v = env[name];
      if (v !== undefined) return v;
      if (def !== undefined) return def.trim();
      throw new GatehouseError('GH_ERR_CONFIG_INVALID',
        `failed to handle configuration: can't find environment variable ${name}`);
    });
  }).join('\n');
}

// `defaultHost`: a listener given only a port binds here (loopback for the admin and
// status listeners, so exposing them is always an explicit choice).
const listenSchema = (defaultHost: string, defaults?: Obj): Obj => ({
  type: 'object',
  properties: {
    host: { type: 'string', minLength: 1, default: defaultHost, 'x-message': 'must be an IP address or host name' },
    port: { type: 'integer', minimum: 0, maximum: 65535, 'x-message': 'must be an integer from 0 to 65535' },
    tls: { type: 'boolean', 'x-message': 'must be true or false' },
  },
  required: ['port'],
  additionalProperties: false,
  ...(defaults !== undefined ? { default: defaults } : {}),
});

/** A listener that serves plain HTTP only: `tls` is refused, not ignored. */
const plainListenSchema = (defaultHost: string): Obj => {
  const schema = listenSchema(defaultHost);
  const { tls: _tls, ...properties } = schema.properties as Obj;
  void _tls;
  return { ...schema, properties };
};

/** A data-plane listener: `proxy_protocol` (APISIX's `apisix.proxy_protocol` ports) is set per listener. */
const dataListenSchema = (defaultHost: string): Obj => {
  const schema = listenSchema(defaultHost);
  const proxyProtocol = { type: 'boolean', 'x-message': 'must be true or false' };
  return { ...schema, properties: { ...(schema.properties as Obj), proxy_protocol: proxyProtocol } };
};

const seconds = (def: number, exclusiveMinimum?: boolean): Obj => ({
  type: 'number',
  ...(exclusiveMinimum === true ? { exclusiveMinimum: 0 } : { minimum: 0 }),
  default: def,
  'x-message': exclusiveMinimum === true ? 'must be a number of seconds > 0' : 'must be a number of seconds >= 0',
});

const closed = (properties: Obj, extra: Obj = {}): Obj => ({
  type: 'object', properties, additionalProperties: false, default: {}, ...extra,
});

export const NODE_CONFIG_SCHEMA: Obj = closed({
  node: closed({
    listen: {
      type: 'array',
      items: { anyOf: [dataListenSchema('0.0.0.0'), { type: 'integer', minimum: 0, maximum: 65535 }] },
      minItems: 1,
      default: [{ host: '0.0.0.0', port: 9080 }, { host: '0.0.0.0', port: 9443, tls: true }],
      'x-message': 'must be a list of {host, port, tls, proxy_protocol} (or port numbers)',
    },
    workers: {
      anyOf: [{ const: 'auto' }, { type: 'integer', minimum: 1 }],
      default: 'auto',
      'x-message': 'must be "auto" or an integer >= 1',
    },
    drain_timeout: seconds(30),
    plugin_timeout: seconds(10, true),
    // Largest body held in memory for one request: a request body a plugin reads (413 past
    // it), a response body a plugin buffers (response-rewrite filters, a decoded
    // gzip/deflate/br body: 502 past it), so a body costs memory up to here and no more.
    max_buffered_body_size: { type: 'integer', minimum: 1024, default: 8388608, 'x-message': 'must be an integer >= 1024 (bytes)' },
    client: closed({
      max_header_size: { type: 'integer', minimum: 1024, default: 32768, 'x-message': 'must be an integer >= 1024 (bytes)' },
      max_body_size: { type: 'integer', minimum: 0, default: 0, 'x-message': 'must be an integer >= 0 (bytes; 0 = unlimited)' },
      header_timeout: seconds(30, true),
      keepalive_timeout: seconds(60),
      request_timeout: seconds(0),
    }),
    tls: closed({
      protocols: {
        type: 'array',
        items: { enum: ['TLSv1.1', 'TLSv1.2', 'TLSv1.3'] },
        minItems: 1,
        uniqueItems: true,
        default: ['TLSv1.2', 'TLSv1.3'],
        'x-message': 'must be a non-empty list of TLSv1.1, TLSv1.2, TLSv1.3',
      },
      ciphers: { type: 'string', minLength: 1, 'x-message': 'must be an OpenSSL cipher list' },
      default_ssl_id: { type: 'string', minLength: 1, 'x-message': 'must be the id of an ssl object' },
      handshake_timeout: seconds(10, true),
    }),
    // HTTP/2 downstream (docs/http2.md): h2 by ALPN on TLS listeners, h2c by prior knowledge on plain
    // ones. The limits are what each session advertises and enforces; the abuse counters close a
    // session with GOAWAY ENHANCE_YOUR_CALM.
    http2: closed({
      enabled: { type: 'boolean', default: true, 'x-message': 'must be true or false' },
      max_concurrent_streams: { type: 'integer', minimum: 1, maximum: 10000, default: 128, 'x-message': 'must be an integer from 1 to 10000' },
      max_header_list_size: { type: 'integer', minimum: 1024, maximum: 262144, default: 32768, 'x-message': 'must be an integer from 1024 to 262144 (bytes)' },
      initial_window_size: { type: 'integer', minimum: 1024, maximum: 2147483647, default: 65535, 'x-message': 'must be an integer from 1024 to 2147483647 (bytes)' },
      max_frame_size: { type: 'integer', minimum: 16384, maximum: 16777215, default: 16384, 'x-message': 'must be an integer from 16384 to 16777215 (bytes)' },
      max_session_memory: { type: 'integer', minimum: 1, maximum: 1024, default: 10, 'x-message': 'must be an integer from 1 to 1024 (MiB)' },
      max_client_resets: { type: 'integer', minimum: 1, default: 200, 'x-message': 'must be an integer >= 1 (streams the client resets per abuse_window)' },
      max_control_frames: { type: 'integer', minimum: 1, default: 1000, 'x-message': 'must be an integer >= 1 (PING and SETTINGS frames per abuse_window)' },
      abuse_window: seconds(10, true),
    }),
    // APISIX `apisix.lru.secret.ttl` / `neg_ttl`: how long $secret:// values are cached.
    secrets: closed({
      ttl: seconds(300, true),
      retry: seconds(60, true),
    }),
  }),
  admin: closed({
    listen: listenSchema('127.0.0.1', { host: '127.0.0.1', port: 9180 }),
    keys: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        properties: {
          name: { type: 'string', minLength: 1, 'x-message': 'must be a non-empty string' },
          key: { type: 'string', minLength: 1, 'x-message': 'must be a non-empty string' },
          role: { enum: ['admin', 'viewer'], default: 'admin', 'x-message': 'must be "admin" or "viewer"' },
        },
        required: ['name', 'key'],
        additionalProperties: false,
      },
    },
    allow: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      default: ['127.0.0.0/8', '::1/128'],
      'x-message': 'must be a list of IP addresses or CIDRs',
    },
  }),
  status: {
    type: 'object',
    properties: { listen: listenSchema('127.0.0.1') },
    required: ['listen'],
    additionalProperties: false,
  },
  store: closed({
    type: { enum: ['sqlite', 'standalone', 'etcd'], default: 'sqlite', 'x-message': 'must be one of sqlite, standalone, etcd' },
    sqlite: closed({
      path: { type: 'string', minLength: 1, default: 'data/gatehouse.db' },
      // A standalone file imported once, when the database is created (revision 0).
      seed: { type: 'string', minLength: 1 },
    }),
    standalone: closed({ file: { type: 'string', minLength: 1, default: 'gatehouse.yaml' } }),
    etcd: closed({
      endpoints: {
        type: 'array',
        items: { type: 'string', pattern: '^https?://', 'x-message': 'must be an http:// or https:// URL' },
        minItems: 1,
        default: ['http://127.0.0.1:2379'],
        'x-message': 'must be a non-empty list of http(s):// URLs',
      },
      prefix: { type: 'string', pattern: '^/', default: '/gatehouse', 'x-message': 'must start with "/"' },
      // etcd RBAC (APISIX's etcd.user / etcd.password)
      user: { type: 'string', minLength: 1, 'x-message': 'must be a non-empty string' },
      password: { type: 'string', 'x-message': 'must be a string' },
      // PEM files, relative to this file; verify: false accepts any server certificate
      tls: {
        type: 'object',
        properties: {
          ca: { type: 'string', minLength: 1, 'x-message': 'must be the path of a PEM file' },
          cert: { type: 'string', minLength: 1, 'x-message': 'must be the path of a PEM file' },
          key: { type: 'string', minLength: 1, 'x-message': 'must be the path of a PEM file' },
          verify: { type: 'boolean', default: true, 'x-message': 'must be true or false' },
        },
        additionalProperties: false,
      },
      timeout: seconds(30, true),
    }),
  }),
  // APISIX's plugin_attr.prometheus export_addr, at the same default address.
  prometheus: closed({
    enabled: { type: 'boolean', default: true, 'x-message': 'must be true or false' },
    export: closed({ listen: listenSchema('127.0.0.1', { host: '127.0.0.1', port: 9091 }) }),
    // gatehouse_plugin_phase_duration_seconds times the plugin handlers of one request in N
    plugin_cost_sample: { type: 'integer', minimum: 1, maximum: 1024, default: 8, 'x-message': 'must be an integer from 1 to 1024 (1 = time every request)' },
  }),
  // APISIX's apisix.router.http
  router: closed({
    http: {
      enum: ['radixtree_host_uri', 'radixtree_uri', 'radixtree_uri_with_parameter'],
      default: 'radixtree_host_uri',
      'x-message': 'must be one of radixtree_host_uri, radixtree_uri, radixtree_uri_with_parameter',
    },
  }),
  // APISIX's apisix.tracing: per-phase and per-plugin spans in the traces opentelemetry samples
  tracing: { type: 'boolean', default: false, 'x-message': 'must be true or false' },
  // The isolate serverless-pre/post-function run in (src/serverless/), one per worker.
  serverless: closed({
    memory_limit_mb: { type: 'integer', minimum: 8, maximum: 4096, default: 64, 'x-message': 'must be an integer from 8 to 4096 (MB)' },
    timeout_ms: { type: 'integer', minimum: 1, maximum: 60000, default: 200, 'x-message': 'must be an integer from 1 to 60000 (ms)' },
  }),
  // proxy-wasm plugins (src/wasm-host/): the bounds of every VM, and APISIX's file-declared
  // wasm plugins (`wasm.plugins`); the marketplace's are in the store (custom_plugins).
  wasm: closed({
    call_timeout_ms: { type: 'integer', minimum: 1, maximum: 60000, default: 500, 'x-message': 'must be an integer from 1 to 60000 (ms)' },
    memory_limit_mb: { type: 'integer', minimum: 1, maximum: 4096, default: 256, 'x-message': 'must be an integer from 1 to 4096 (MB)' },
    plugins: {
      type: 'array',
      default: [],
      items: closed({
        name: { type: 'string', pattern: '^[a-zA-Z0-9_.-]{1,64}$', 'x-message': 'must be 1-64 letters, digits, "_", "." or "-"' },
        file: { type: 'string', minLength: 1 },
        priority: { type: 'integer' },
        stage: { type: 'string', enum: ['authorization', 'authentication', 'statistics', 'default', 'AUTHN', 'AUTHZ', 'STATS', 'UNSPECIFIED_PHASE'], default: 'default' },
        root_id: { type: 'string', minLength: 1 },
        fail_strategy: { type: 'string', enum: ['FAIL_CLOSE', 'FAIL_OPEN'], default: 'FAIL_CLOSE' },
        http_request_phase: { type: 'string', enum: ['rewrite', 'access'], default: 'rewrite' },
      }, { required: ['name', 'file', 'priority'] }),
    },
  }),
  // APISIX's apisix.proxy_cache: the zones proxy-cache stores in (proxy-cache-config.ts)
  proxy_cache: PROXY_CACHE_SCHEMA,
  // APISIX's apisix.stream_proxy, at the top level (stream-proxy-config.ts)
  stream_proxy: STREAM_PROXY_SCHEMA,
  // APISIX's discovery: the registries upstreams may name (discovery-config.ts, docs/discovery.md)
  discovery: DISCOVERY_SCHEMA,
  data_dir: { type: 'string', minLength: 1, default: 'data' },
  // file-logger writes only under this folder; absent = <data_dir>/logs
  log_dir: { type: 'string', minLength: 1 },
  plugins: {
    type: 'array',
    items: { type: 'string', minLength: 1 },
    uniqueItems: true,
    'x-message': 'must be a list of distinct plugin names',
  },
  plugin_dirs: {
    type: 'array',
    items: { type: 'string', minLength: 1 },
    uniqueItems: true,
    'x-message': 'must be a list of folders holding custom plugins (.js, .mjs or .cjs files)',
  },
  // Names of built-in plugins a module in plugin_dirs may replace; any other clash refuses to load.
  plugin_overrides: {
    type: 'array',
    items: { type: 'string', minLength: 1 },
    uniqueItems: true,
    default: [],
    'x-message': 'must be a list of distinct built-in plugin names a plugin_dirs module may replace',
  },
  log: closed({
    level: {
      enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
      default: 'info',
      'x-message': 'must be one of trace, debug, info, warn, error, fatal, silent',
    },
    // auto: readable lines on a terminal, JSON lines otherwise (pipes, files, log shippers)
    format: { enum: ['auto', 'json', 'pretty'], default: 'auto', 'x-message': 'must be one of auto, json, pretty' },
  }),
  // Example-only helpers for trying the gateway on a fresh clone; production configs leave this out.
  examples: closed({
    echo_upstream: {
      type: 'object',
      properties: { listen: plainListenSchema('127.0.0.1') },
      required: ['listen'],
      additionalProperties: false,
    },
  }),
});

const TYPE_WORDS: Record<string, string> = {
  string: 'a string', integer: 'an integer', number: 'a number', boolean: 'true or false',
  object: 'a mapping', array: 'a list',
};

/** Reads and checks a node config file. */
export async function loadNodeConfig(file: string): Promise<NodeConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new GatehouseError('GH_ERR_CONFIG_INVALID', `${file}: cannot read: ${(e as Error).message}`, { cause: e });
  }
  return parseNodeConfig(text, file);
}

/**
 * Parses the text of a node config file. `file` names it in messages and anchors relative
 * paths (`store.sqlite.path`, `store.standalone.file`, `data_dir`, `log_dir`) to its folder.
 */
export function parseNodeConfig(text: string, file: string): NodeConfig {
  const fail = (msg: string, cause?: unknown): never => {
    throw new GatehouseError('GH_ERR_CONFIG_INVALID', `${file}: ${msg}`, cause === undefined ? undefined : { cause });
  };
  let doc: unknown;
  try {
    doc = parseYaml(substituteEnv(text));
  } catch (e) {
    if (e instanceof GatehouseError) fail(e.message);
    // keep the `at line L, column C` first line; drop the multi-line code frame
    fail(`invalid YAML: ${(e as Error).message.split('\n')[0]!.replace(/:$/, '')}`, e);
  }
  if (doc === null || doc === undefined) doc = {}; // an empty file means "all defaults"
  if (typeof doc !== 'object' || Array.isArray(doc)) fail('must be a mapping of settings');

  const validate = compileSchema<Obj>(NODE_CONFIG_SCHEMA);
  if (!validate(doc)) fail(describeError(validate.errors ?? [], doc));
  const raw = doc as Obj;

  const node = raw.node as Obj;
  node.listen = (node.listen as unknown[]).map((l) => (typeof l === 'number' ? { host: '0.0.0.0', port: l } : l));
  node.workers = node.workers === 'auto' ? cores() : node.workers;
  const admin = raw.admin as Obj;
  (admin.allow as string[]).forEach((a, i) => {
    if (!isIpOrCidr(a)) fail(`admin.allow[${i}]: "${a}" is not an IP address or CIDR`);
  });
  const ports = new Map<string, string>();
  const claim = (l: Obj, where: string): void => {
    if (l.port === 0) return; // port 0 = any free port, never a clash
    const k = `${String(l.host)}:${String(l.port)}`;
    const other = ports.get(k);
    if (other !== undefined) fail(`${where}: ${k} is already used by ${other}`);
    ports.set(k, where);
  };
  (node.listen as Obj[]).forEach((l, i) => claim(l, `node.listen[${i}]`));
  claim(admin.listen as Obj, 'admin.listen');
  if (raw.status !== undefined) claim((raw.status as Obj).listen as Obj, 'status.listen');
  const prom = raw.prometheus as { enabled: boolean; export: { listen: Obj } };
  if (prom.enabled) claim(prom.export.listen, 'prometheus.export.listen');
  const echo = (raw.examples as { echo_upstream?: { listen: Obj } }).echo_upstream;
  if (echo !== undefined) claim(echo.listen, 'examples.echo_upstream.listen');

  const abs = path.resolve(file);
  const dir = path.dirname(abs);
  const store = raw.store as { sqlite: Obj; standalone: Obj; etcd: EtcdSettings };
  store.sqlite.path = path.resolve(dir, String(store.sqlite.path));
  if (store.sqlite.seed !== undefined) store.sqlite.seed = path.resolve(dir, String(store.sqlite.seed));
  store.standalone.file = path.resolve(dir, String(store.standalone.file));
  checkEtcd(store.etcd, dir, fail);
  raw.data_dir = path.resolve(dir, String(raw.data_dir));
  raw.log_dir = raw.log_dir === undefined ? path.join(String(raw.data_dir), 'logs') : path.resolve(dir, String(raw.log_dir));
  try {
    raw.proxy_cache = resolveProxyCache(raw.proxy_cache as Obj, dir, String(raw.data_dir));
  } catch (e) {
    fail((e as Error).message);
  }
  try {
    const stream = resolveStreamProxy(raw.stream_proxy as Obj | undefined);
    if (stream === undefined) delete raw.stream_proxy;
    else raw.stream_proxy = stream;
    // TCP ports may not clash with the HTTP listeners; a UDP port may share a TCP one's number
    stream?.tcp.forEach((l, i) => claim(l as unknown as Obj, `stream_proxy.tcp[${i}]`));
  } catch (e) {
    fail((e as Error).message);
  }
  try {
    raw.discovery = resolveDiscovery(raw.discovery as Obj, dir);
  } catch (e) {
    fail((e as Error).message);
  }
  const wasm = raw.wasm as { plugins?: { file?: unknown }[] } | undefined;
  for (const p of wasm?.plugins ?? []) if (typeof p.file === 'string') p.file = path.resolve(dir, p.file);
  if (Array.isArray(raw.plugin_dirs)) raw.plugin_dirs = raw.plugin_dirs.map((d) => path.resolve(dir, String(d)));
  return { ...raw, file: abs } as unknown as NodeConfig;
}

type EtcdSettings = { endpoints: string[]; user?: string; password?: string; tls?: Record<string, unknown> };

/** store.etcd: the checks between fields, and the TLS files made absolute. */
function checkEtcd(etcd: EtcdSettings, dir: string, fail: (msg: string) => never): void {
  if (etcd.password !== undefined && etcd.user === undefined) fail('store.etcd.password: is set without store.etcd.user');
  const tls = etcd.tls;
  if (tls === undefined) return;
  const plain = etcd.endpoints.findIndex((e) => !e.startsWith('https://'));
  if (plain !== -1) fail(`store.etcd.endpoints[${plain}]: must be an https:// URL when store.etcd.tls is set`);
  if ((tls.cert === undefined) !== (tls.key === undefined)) fail('store.etcd.tls: cert and key must be set together');
  for (const field of ['ca', 'cert', 'key'] as const) {
    if (typeof tls[field] === 'string') tls[field] = path.resolve(dir, tls[field]);
  }
}

function cores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : Math.max(1, os.cpus().length);
}

function isIpOrCidr(s: string): boolean {
  const [addr, bits, extra] = s.split('/');
  if (extra !== undefined || addr === undefined) return false;
  const v = isIP(addr);
  if (v === 0) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (v === 4 ? 32 : 128);
}

/** One message naming the key path: `node.workers: must be "auto" or an integer >= 1`. */
function describeError(errors: readonly ErrorObject[], doc: unknown): string {
  // Unknown keys are the most common mistake (typos); report them before anything else.
  const extra = errors.find((e) => e.keyword === 'additionalProperties');
  if (extra !== undefined) {
    const at = keyPath(extra.instancePath, doc);
    const name = String((extra.params as { additionalProperty: string }).additionalProperty);
    return `unknown key "${at === '' ? name : `${at}.${name}`}"`;
  }
  const e = primaryError(errors);
  if (e.keyword === 'required') {
    const at = keyPath(e.instancePath, doc);
    const name = String((e.params as { missingProperty: string }).missingProperty);
    return `${at === '' ? name : `${at}.${name}`}: is required`;
  }
  const at = keyPath(e.instancePath, doc);
  const hint = hintAt(e.instancePath);
  if (hint !== undefined) return `${at}: ${hint}`;
  if (e.keyword === 'anyOf') {
    // no alternative fits at all: describe the enclosing setting instead
    const parent = e.instancePath.slice(0, e.instancePath.lastIndexOf('/'));
    const parentHint = hintAt(parent);
    if (parentHint !== undefined) return `${keyPath(parent, doc)}: ${parentHint}`;
  }
  if (e.keyword === 'type') {
    const t = String((e.params as { type: string }).type);
    return `${at}: must be ${TYPE_WORDS[t] ?? t}`;
  }
  if (e.keyword === 'enum') {
    return `${at}: must be one of ${((e.params as { allowedValues: unknown[] }).allowedValues).map(String).join(', ')}`;
  }
  return `${at}: ${e.message ?? 'is invalid'}`;
}

/** `/node/listen/0/port` → `node.listen[0].port`. */
function keyPath(pointer: string, doc: unknown): string {
  if (pointer === '') return '';
  let out = '';
  let cur: unknown = doc;
  for (const seg of pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))) {
    out += Array.isArray(cur) ? `[${seg}]` : out === '' ? seg : `.${seg}`;
    cur = cur !== null && typeof cur === 'object' ? (cur as Obj)[seg] : undefined;
  }
  return out;
}

/** The `x-message` of the schema at an instance path (array items inherit their list's message). */
function hintAt(pointer: string): string | undefined {
  let schema: Obj | undefined = NODE_CONFIG_SCHEMA;
  let hint: string | undefined;
  const segs = pointer === '' ? [] : pointer.slice(1).split('/');
  for (const seg of segs) {
    if (schema === undefined) break;
    const props = propertiesOf(schema);
    if (props !== undefined && seg in props) schema = props[seg];
    else if (schema.items !== undefined && /^\d+$/.test(seg)) schema = schema.items as Obj;
    else schema = undefined;
    const h = schema?.['x-message'];
    if (typeof h === 'string') hint = h;
    else if (schema !== undefined && schema.type !== 'array' && schema.items === undefined) hint = undefined;
  }
  return hint;
}

/** `properties` of a schema, or of the first anyOf branch that has them (listen: object or port). */
function propertiesOf(schema: Obj): Record<string, Obj> | undefined {
  if (schema.properties !== undefined) return schema.properties as Record<string, Obj>;
  for (const branch of (schema.anyOf as Obj[] | undefined) ?? []) {
    if (branch.properties !== undefined) return branch.properties as Record<string, Obj>;
  }
  return undefined;
}
