// A plain PluginContext for unit tests of plugins: a request given as method, uri
// (with query) and headers; a response whose headers header_filter can read and write;
// plus what the handlers did (attached consumer, variables set, upstream header edits).
// Also helpers that validate a config against a plugin's schema (filling defaults, as
// the runtime does) before calling its `prepare`.
import { pino } from 'pino';
import type {
  ConsumerRef, Plugin, PluginContext, PluginRequest, PluginResponse, PrepareEnv,
} from '../../src/contracts/plugin.js';
import { checkSchema, compileSchema } from '../../src/core/schema.js';

export interface TestContextOptions {
  method?: string;
  /** Path with optional query string, e.g. `/hello?apikey=x`. */
  uri?: string;
  headers?: Record<string, string>;
  remoteAddr?: string;
  host?: string;
  routeId?: string;
  serviceId?: string;
  consumer?: ConsumerRef;
  /** Variables resolved before the built-in ones. */
  vars?: Record<string, unknown>;
  /** Response status and headers (for header_filter tests). */
  status?: number;
  responseHeaders?: Record<string, string>;
}

export interface TestContext extends PluginContext {
  readonly request: TestRequest;
  readonly response: TestResponse;
  /** Every consumer passed to attachConsumer, in order. */
  readonly attached: ConsumerRef[];
  /** Variables set through setVar. */
  readonly setVars: Map<string, unknown>;
}

export interface TestRequest extends PluginRequest {
  /** The headers as the upstream would receive them (after setHeader edits). */
  readonly headers: Record<string, string>;
}

export interface TestResponse extends PluginResponse {
  readonly headers: Record<string, string>;
}

const silent = pino({ level: 'silent' });

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

function parseQuery(uri: string): Map<string, string> {
  const out = new Map<string, string>();
  const q = uri.indexOf('?');
  if (q < 0) return out;
  for (const part of uri.slice(q + 1).split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decode(eq < 0 ? part : part.slice(0, eq));
    if (!out.has(name)) out.set(name, eq < 0 ? '' : decode(part.slice(eq + 1)));
  }
  return out;
}

export function createTestContext(opts: TestContextOptions = {}): TestContext {
  const fullUri = opts.uri ?? '/';
  const q = fullUri.indexOf('?');
  const path = q < 0 ? fullUri : fullUri.slice(0, q);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.headers ?? {})) headers[k.toLowerCase()] = v;
  const responseHeaders: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.responseHeaders ?? {})) responseHeaders[k.toLowerCase()] = v;
  const setVars = new Map<string, unknown>();
  const attached: ConsumerRef[] = [];
  let consumer = opts.consumer;
  let remoteAddr = opts.remoteAddr ?? '127.0.0.1';
  const method = opts.method ?? 'GET';
  const host = opts.host ?? headers.host ?? 'localhost';

  let requestBody: Buffer = Buffer.alloc(0);
  const request: TestRequest = {
    body: () => Promise.resolve(requestBody),
    setBody: (b) => { requestBody = typeof b === 'string' ? Buffer.from(b) : b; },
    method,
    uri: path,
    host,
    get remoteAddr() { return remoteAddr; },
    headers,
    header: (name) => headers[name.toLowerCase()],
    setHeader: (name, value) => {
      if (value === undefined) delete headers[name.toLowerCase()];
      else headers[name.toLowerCase()] = value;
    },
    // Arguments are the client's, as in nginx: hiding one rewrites upstreamUri only.
    arg: (name) => parseQuery(fullUri).get(name),
    upstreamUri: fullUri,
    upstreamHost: undefined,
    upstreamMethod: undefined,
    allHeaders: () => ({ ...headers }),
  };

  const response: TestResponse = {
    status: opts.status ?? 200,
    headers: responseHeaders,
    header: (name) => responseHeaders[name.toLowerCase()],
    setHeader: (name, value) => {
      if (value === undefined) delete responseHeaders[name.toLowerCase()];
      else responseHeaders[name.toLowerCase()] = value;
    },
    addHeader: (name, value) => {
      const prev = responseHeaders[name.toLowerCase()];
      responseHeaders[name.toLowerCase()] = prev === undefined ? value : `${prev}, ${value}`;
    },
    allHeaders: () => ({ ...responseHeaders }),
  };

  const ctx: TestContext = {
    signal: new AbortController().signal,
    request,
    response,
    attached,
    setVars,
    var(name: string): unknown {
      if (setVars.has(name)) return setVars.get(name);
      if (opts.vars !== undefined && name in opts.vars) return opts.vars[name];
      switch (name) {
        case 'remote_addr': return remoteAddr;
        case 'uri': return path;
        case 'request_uri': return fullUri;
        case 'host': return host;
        case 'request_method': return method;
        case 'route_id': return opts.routeId;
        case 'service_id': return opts.serviceId;
        case 'consumer_name': return consumer?.username;
        case 'status': return response.status;
      }
      if (name.startsWith('http_')) return headers[name.slice(5).replace(/_/g, '-')];
      if (name.startsWith('arg_')) return parseQuery(fullUri).get(name.slice(4));
      if (name.startsWith('cookie_')) {
        const want = name.slice(7);
        for (const pair of (headers.cookie ?? '').split(';')) {
          const eq = pair.indexOf('=');
          if (eq > 0 && pair.slice(0, eq).trim() === want) return pair.slice(eq + 1).trim();
        }
      }
      return undefined;
    },
    setVar(name: string, value: unknown): void {
      setVars.set(name, value);
      if (name === 'remote_addr' && typeof value === 'string') remoteAddr = value;
    },
    // the test response exists from the start: a header set ahead of it goes straight on
    setResponseHeader(name: string, value: string | undefined): void {
      response.setHeader(name, value);
    },
    routeId: opts.routeId,
    serviceId: opts.serviceId,
    get consumer() { return consumer; },
    attachConsumer(c: ConsumerRef): void {
      consumer = c;
      attached.push(c);
    },
    shared: new Map(),
    log: silent,
    startedAt: performance.now(),
  };
  return ctx;
}

/**
 * Validates `conf` against the plugin's schema (filling defaults, as the runtime does)
 * and prepares it. Throws with the schema message (or prepare's) when refused.
 */
export function prepareWith<C, P>(plugin: Plugin<C, P>, conf: Record<string, unknown>,
  env: Partial<PrepareEnv> = {}): P {
  const copy = structuredClone(conf);
  const err = checkSchema(compileSchema(plugin.schema), copy);
  if (err !== undefined) throw new Error(err);
  const full: PrepareEnv = { metadata: env.metadata, consumers: env.consumers ?? [], ...(env.subsystem !== undefined ? { subsystem: env.subsystem } : {}) };
  if (plugin.prepare === undefined) return copy as unknown as P;
  return plugin.prepare(copy as unknown as C, full);
}

/** The schema error for `conf` (undefined when valid), without preparing. */
export function schemaError(schema: Record<string, unknown> | undefined, conf: unknown): string | undefined {
  if (schema === undefined) throw new Error('no schema');
  return checkSchema(compileSchema(schema), structuredClone(conf));
}

/** A consumer config validated (and defaulted) by the plugin's consumer schema. */
export function consumerConf(plugin: Plugin, conf: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(conf);
  const err = checkSchema(compileSchema(plugin.consumerSchema ?? plugin.schema), copy);
  if (err !== undefined) throw new Error(err);
  return copy;
}

/** A ConsumerRef whose plugins are validated against each plugin's consumer schema. */
export function consumer(username: string, plugins: Record<string, [Plugin, Record<string, unknown>]>,
  extra: Partial<ConsumerRef> = {}): ConsumerRef {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [name, [plugin, conf]] of Object.entries(plugins)) out[name] = consumerConf(plugin, conf);
  return { username, plugins: out, ...extra };
}
