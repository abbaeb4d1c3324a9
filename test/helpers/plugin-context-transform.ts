import { pino } from 'pino';
import type { ConsumerRef, Plugin, PluginContext, PluginRequest, PluginResponse } from '../../src/contracts/plugin.js';
import { checkSchema, compileSchema } from '../../src/core/schema.js';

// A plain PluginContext for unit tests of the transformation plugins: no server, no
// runner. Variables are computed from the request the test describes, the way the
// data plane's RequestVars computes them, and every write is observable.

export interface TestContextInit {
  method?: string;
  /** Request target as the client sent it (path + query); `uri` is derived from it unless given. */
  target?: string;
  /** nginx `uri` (decoded path); defaults to the decoded path of `target`. */
  uri?: string;
  host?: string;
  remoteAddr?: string;
  scheme?: 'http' | 'https';
  headers?: Record<string, string>;
  /** Extra variables (win over computed ones). */
  vars?: Record<string, unknown>;
  routeId?: string;
  response?: { status?: number; headers?: Record<string, string> };
}

export interface TestContext extends PluginContext {
  /** Headers that will go upstream (lower-case names). */
  readonly requestHeaders: Map<string, string>;
  /** Response headers (lower-case names). */
  readonly responseHeaders: Map<string, string>;
  /** Variables set with setVar. */
  readonly setVars: Map<string, unknown>;
  /** Ends the request: runs what plugins registered with onFinished. */
  finish(): void;
}

export function makeTestContext(init: TestContextInit = {}): TestContext {
  const target = init.target ?? init.uri ?? '/';
  const q = target.indexOf('?');
  const rawPath = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q + 1);
  const uri = init.uri ?? safeDecode(rawPath);
  const method = init.method ?? 'GET';
  const host = init.host ?? 'localhost';
  const requestHeaders = new Map<string, string>();
  requestHeaders.set('host', host);
  for (const [k, v] of Object.entries(init.headers ?? {})) requestHeaders.set(k.toLowerCase(), v);
  const originalHeaders = new Map(requestHeaders);
  const args = new Map<string, string>();
  for (const [k, v] of new URLSearchParams(query)) if (!args.has(k)) args.set(k, v);
  const responseHeaders = new Map<string, string>();
  for (const [k, v] of Object.entries(init.response?.headers ?? {})) responseHeaders.set(k.toLowerCase(), v);
  const setVars = new Map<string, unknown>();
  let status = init.response?.status ?? 200;

  let requestBody: Buffer = Buffer.alloc(0);
  const request: PluginRequest = {
    body: () => Promise.resolve(requestBody),
    setBody: (b) => { requestBody = typeof b === 'string' ? Buffer.from(b) : b; },
    method,
    uri,
    host,
    remoteAddr: init.remoteAddr ?? '127.0.0.1',
    header: (name) => requestHeaders.get(name.toLowerCase()),
    setHeader: (name, value) => {
      if (value === undefined) requestHeaders.delete(name.toLowerCase());
      else requestHeaders.set(name.toLowerCase(), value);
    },
    arg: (name) => args.get(name),
    upstreamUri: target,
    upstreamHost: undefined,
    upstreamMethod: undefined,
  };
  const response: PluginResponse = {
    get status() { return status; },
    set status(v: number) { status = v; },
    header: (name) => responseHeaders.get(name.toLowerCase()),
    setHeader: (name, value) => {
      if (value === undefined) responseHeaders.delete(name.toLowerCase());
      else responseHeaders.set(name.toLowerCase(), value);
    },
    addHeader: (name, value) => {
      const prev = responseHeaders.get(name.toLowerCase());
      responseHeaders.set(name.toLowerCase(), prev === undefined ? value : `${prev}, ${value}`);
    },
  };

  const computed = (name: string): unknown => {
    switch (name) {
      case 'uri': return uri;
      case 'request_uri': case 'real_request_uri': return target;
      case 'host': return host.replace(/:\d+$/, '').toLowerCase();
      case 'method': case 'request_method': return method;
      case 'scheme': return init.scheme ?? 'http';
      case 'args': case 'query_string': return query;
      case 'is_args': return query === '' ? '' : '?';
      case 'remote_addr': return request.remoteAddr;
      case 'route_id': return init.routeId;
      case 'status': return status;
      case 'upstream_uri': return request.upstreamUri;
    }
    if (name.startsWith('arg_')) return args.get(name.slice(4));
    if (name.startsWith('http_')) return originalHeaders.get(name.slice(5).replace(/_/g, '-'));
    if (name.startsWith('sent_http_')) return responseHeaders.get(name.slice(10).replace(/_/g, '-'));
    return undefined;
  };

  const finishers: (() => void)[] = [];
  const ctx: TestContext = {
    signal: new AbortController().signal,
    request,
    response,
    var: (name) => {
      if (setVars.has(name)) return setVars.get(name);
      if (init.vars !== undefined && name in init.vars) return init.vars[name];
      return computed(name);
    },
    setVar: (name, value) => { setVars.set(name, value); },
    routeId: init.routeId,
    serviceId: undefined,
    consumer: undefined as ConsumerRef | undefined,
    attachConsumer: () => { throw new Error('not supported in the test context'); },
    setResponseHeader: (name, value) => response.setHeader(name, value),
    shared: new Map(),
    log: pino({ level: 'silent' }),
    startedAt: performance.now(),
    requestHeaders,
    responseHeaders,
    setVars,
    onFinished: (fn) => { finishers.push(fn); },
    finish: () => { for (const fn of finishers.splice(0)) fn(); },
  };
  return ctx;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * What the runtime does with an instance before a request sees it: schema validation
 * (defaults filled into a copy) then prepare. Throws the schema message or prepare's.
 */
export function prepareConf<C, P>(plugin: Plugin<C, P>, conf: Record<string, unknown>): P {
  const copy = structuredClone(conf);
  const err = checkSchema(compileSchema(plugin.schema), copy);
  if (err !== undefined) throw new Error(err);
  if (plugin.prepare === undefined) return copy as P;
  return plugin.prepare(copy as C, { metadata: undefined, consumers: [] });
}

/** The schema message for `conf`, or undefined when valid. */
export function schemaError(plugin: Plugin, conf: Record<string, unknown>): string | undefined {
  return checkSchema(compileSchema(plugin.schema), structuredClone(conf));
}
