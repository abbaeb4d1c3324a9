// What the logger plugins share (APISIX's apisix/utils/log-util.lua): the log entry of a
// finished request, either APISIX's default shape or a `log_format` (the instance's, else
// the plugin metadata's: DESIGN.md §4, a field on the instance wins over the metadata),
// plus the optional response-body capture.
import { pluginNodeLimits } from '../../plugin-runtime/node-limits.js';
import { hostname as osHostname } from 'node:os';
import type { PluginContext, PrepareEnv, StreamSession } from '../../contracts/plugin.js';
import { checkVariables, compileExpr, isKnownVariable, isStreamVariable, usesBodyVariable, type CompiledExpr } from '../../core/expr/index.js';
import { VERSION } from '../../core/version.js';
import { compileVarTemplate } from './var-template.js';

const HOSTNAME = osHostname();

/** Where a format's variables are read: a request's context, or a stream session. */
export interface VarSource {
  var(name: string): unknown;
}

type Resolved = (src: VarSource) => unknown;

/** A `log_format` compiled once per config: key → how its value is produced. */
export interface CompiledLogFormat extends ReadonlyArray<readonly [string, Resolved]> {
  /** Every variable its values read (whether it needs the request body read, say). */
  readonly variables: readonly string[];
}

/**
 * Compiles a `log_format` object. A value that is exactly one variable (`$status`,
 * `${upstream_addr}`) keeps the variable's type, as APISIX does (`ctx.var[name]`); other
 * strings with `$` are templates rendered to a string (`$remote_addr - $host`); anything
 * else is logged literally. A variable that does not exist (`known` decides: default, a
 * request's) throws, naming `field.key`.
 */
export function compileLogFormat(format: Record<string, unknown>, field = 'log_format',
  known: (name: string) => boolean = isKnownVariable): CompiledLogFormat {
  const out: [string, Resolved][] = [];
  const variables: string[] = [];
  for (const [key, value] of Object.entries(format)) {
    if (typeof value !== 'string' || !value.includes('$')) {
      out.push([key, () => value]);
      continue;
    }
    const single = /^\$(?:([\w.]+)|\{\s*([^}?]+?)\s*\})$/.exec(value);
    if (single !== null) {
      const name = single[1] ?? single[2]!;
      checkVariables([name], `${field}.${key}`, known);
      variables.push(name);
      out.push([key, (src) => src.var(name) ?? null]);
      continue;
    }
    const t = compileVarTemplate(value);
    checkVariables(t.variables, `${field}.${key}`, known);
    variables.push(...t.variables);
    out.push([key, (src) => t.render((n) => src.var(n))]);
  }
  return Object.assign(out, { variables });
}

/** Metadata formats are checked as HTTP ones when written; on a stream route a name the session lacks reads null. */
function isHttpOrStreamVariable(name: string): boolean {
  return isStreamVariable(name) || isKnownVariable(name);
}

/**
 * The format an instance logs with: its own `log_format` if it has one, else the
 * metadata's, else none (the default entry). On a stream route (`subsystem: 'stream'`)
 * the instance's format may name only a session's variables.
 */
export function pickLogFormat(instance: Record<string, unknown> | undefined,
  metadata: Record<string, unknown> | undefined, subsystem: PrepareEnv['subsystem'] = 'http'): CompiledLogFormat | undefined {
  const stream = subsystem === 'stream';
  if (instance !== undefined && instance !== null) return compileLogFormat(instance, 'log_format', stream ? isStreamVariable : isKnownVariable);
  const md = metadata?.log_format;
  if (md !== null && typeof md === 'object' && !Array.isArray(md) && Object.keys(md).length > 0) {
    return compileLogFormat(md as Record<string, unknown>, 'plugin_metadata log_format', stream ? isHttpOrStreamVariable : isKnownVariable);
  }
  return undefined;
}

/** A custom entry: the format's keys, plus `route_id` / `service_id` of the matched route (as APISIX adds them). */
export function customLogEntry(format: CompiledLogFormat,
  src: VarSource & { readonly routeId: string | undefined; readonly serviceId?: string | undefined }): Record<string, unknown> {
  const entry: Record<string, unknown> = {};
  for (const [key, resolve] of format) entry[key] = resolve(src);
  if (src.routeId !== undefined) {
    entry.route_id = src.routeId;
    entry.service_id = src.serviceId ?? '';
  }
  return entry;
}

/** `a=1&a=2&flag` → `{a: ['1', '2'], flag: true}` (ngx.req.get_uri_args). */
export function parseQueryString(query: string): Record<string, string | boolean | (string | boolean)[]> {
  const out: Record<string, string | boolean | (string | boolean)[]> = {};
  if (query === '') return out;
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = decode(eq === -1 ? part : part.slice(0, eq));
    const value: string | boolean = eq === -1 ? true : decode(part.slice(eq + 1));
    const prev = out[key];
    if (prev === undefined) out[key] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[key] = [prev, value];
  }
  return out;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** APISIX's default log entry (log-util `get_full_log`). */
export function defaultLogEntry(ctx: PluginContext, respBody?: string, reqBody?: string): Record<string, unknown> {
  const scheme = String(ctx.var('scheme') ?? 'http');
  const requestUri = String(ctx.var('request_uri') ?? ctx.request.uri);
  const latency = performance.now() - ctx.startedAt;
  const upstreamSeconds = num(ctx.var('upstream_response_time'));
  const upstreamLatency = upstreamSeconds === undefined ? undefined : upstreamSeconds * 1000;
  const response: Record<string, unknown> = {
    status: ctx.response.status,
    headers: ctx.response.allHeaders?.() ?? {},
    size: num(ctx.var('bytes_sent')) ?? 0,
  };
  if (respBody !== undefined) response.body = respBody;
  const entry: Record<string, unknown> = {
    request: {
      url: `${scheme}://${ctx.request.host}:${String(ctx.var('server_port') ?? '')}${requestUri}`,
      uri: requestUri,
      method: ctx.request.method,
      headers: ctx.request.allHeaders?.() ?? {},
      querystring: parseQueryString(String(ctx.var('query_string') ?? '')),
      size: num(ctx.var('request_length')) ?? 0,
      ...(reqBody !== undefined ? { body: reqBody } : {}),
    },
    response,
    server: { hostname: HOSTNAME, version: VERSION },
    upstream: ctx.var('upstream_addr') ?? '',
    service_id: ctx.serviceId ?? '',
    route_id: ctx.routeId ?? '',
    client_ip: ctx.request.remoteAddr,
    start_time: Math.round(performance.timeOrigin + ctx.startedAt),
    latency,
    apisix_latency: upstreamLatency === undefined ? latency : Math.max(0, latency - upstreamLatency),
  };
  if (upstreamLatency !== undefined) entry.upstream_latency = upstreamLatency;
  if (ctx.consumer !== undefined) entry.consumer = { username: ctx.consumer.username };
  return entry;
}

/**
 * A stream session's entry when no `log_format` is set (APISIX logs nothing then, with an
 * error: its default entry is an HTTP one): the session's variables and this server.
 */
export function defaultStreamLogEntry(session: StreamSession): Record<string, unknown> {
  const entry: Record<string, unknown> = {
    route_id: session.routeId,
    protocol: session.var('protocol'),
    client_ip: session.remoteAddr,
    remote_port: session.var('remote_port'),
    server_addr: session.var('server_addr'),
    server_port: session.var('server_port'),
    upstream: session.var('upstream_addr') ?? '',
    status: session.var('status'),
    bytes_received: session.var('bytes_received'),
    bytes_sent: session.var('bytes_sent'),
    session_time: session.var('session_time'),
    start_time: Math.round(performance.timeOrigin + session.startedAt),
    server: { hostname: HOSTNAME, version: VERSION },
  };
  const sni = session.var('ssl_server_name');
  if (sni !== undefined) entry.ssl_server_name = sni;
  return entry;
}

/** The entry of a stream session: the custom format if there is one, else the default stream entry. */
export function streamLogEntry(format: CompiledLogFormat | undefined, session: StreamSession): Record<string, unknown> {
  return format !== undefined ? customLogEntry(format, session) : defaultStreamLogEntry(session);
}

/** The logger fields shared by http-logger and file-logger (APISIX's schemas). */
export const LOGGER_COMMON_PROPERTIES = {
  log_format: { type: 'object' },
  include_req_body: { type: 'boolean', default: false },
  include_req_body_expr: { type: 'array', minItems: 1, items: { type: 'array' } },
  include_resp_body: { type: 'boolean', default: false },
  include_resp_body_expr: { type: 'array', minItems: 1, items: { type: 'array' } },
  max_resp_body_bytes: { type: 'integer', minimum: 1, default: 524288 },
  max_req_body_bytes: { type: 'integer', minimum: 1, default: 524288 },
} as const;

export const LOGGER_METADATA_SCHEMA = {
  type: 'object',
  properties: { log_format: { type: 'object' } },
  // APISIX's `max_pending_entries` is not built: refused by name, not ignored
  additionalProperties: false,
} as const;

export interface LoggerCommonConf {
  log_format?: Record<string, unknown>;
  include_req_body?: boolean;
  include_req_body_expr?: unknown[];
  include_resp_body?: boolean;
  include_resp_body_expr?: unknown[];
  max_resp_body_bytes?: number;
  max_req_body_bytes?: number;
}

let captureIds = 0;

interface Captured { parts: Buffer[]; size: number }

/** Captures the response body for `include_resp_body`, up to `max_resp_body_bytes`, in `ctx.shared`. */
export class ResponseBodyCapture {
  /** One key per instance: a logger on a global rule and on the route capture separately. */
  private readonly key: string;
  private readonly expr: CompiledExpr | undefined;
  private readonly limit: number;

  constructor(plugin: string, conf: LoggerCommonConf) {
    this.key = `${plugin}:resp_body:${++captureIds}`;
    this.expr = compileCheckedExpr(conf.include_resp_body_expr, 'include_resp_body_expr');
    this.limit = conf.max_resp_body_bytes ?? 524288;
  }

  /** body_filter: remembers the chunk (never changes it). */
  add(ctx: PluginContext, chunk: Buffer): void {
    let c = ctx.shared.get(this.key) as Captured | false | undefined;
    if (c === false) return;
    if (c === undefined) {
      // include_resp_body_expr reads response variables, so it is evaluated at the first chunk
      if (this.expr !== undefined && !this.expr((n) => ctx.var(n))) {
        ctx.shared.set(this.key, false);
        return;
      }
      c = { parts: [], size: 0 };
      ctx.shared.set(this.key, c);
    }
    // max_resp_body_bytes is a route setting: the node's bound caps it
    const limit = Math.min(this.limit, pluginNodeLimits().maxBufferedBodySize);
    if (c.size < limit && chunk.length > 0) {
      // a copy: the chunk's memory may be reused once it is written
      const part = Buffer.from(chunk.subarray(0, limit - c.size));
      c.parts.push(part);
      c.size += part.length;
    }
  }

  /** log: the captured body, or undefined when none was captured. */
  body(ctx: PluginContext): string | undefined {
    const c = ctx.shared.get(this.key) as Captured | false | undefined;
    return c === undefined || c === false ? undefined : Buffer.concat(c.parts).toString('utf8');
  }
}

/**
 * Keeps the request body for `include_req_body`. A request body streams to the upstream
 * unread, so a logger that logs it reads it first, in access (the request then goes
 * upstream from memory): only when `include_req_body_expr` (evaluated then, against the
 * request's variables; response variables are nil at that point) lets it, and only a
 * body no larger than `node.max_buffered_body_size` (a declared length over it is not
 * read, and the entry has no body; a chunked one that passes it fails the request with
 * 413, as any body a plugin reads). At most `max_req_body_bytes` of it are logged.
 */
export class RequestBodyCapture {
  private readonly key: string;
  private readonly expr: CompiledExpr | undefined;
  private readonly limit: number;

  constructor(plugin: string, conf: LoggerCommonConf) {
    this.key = `${plugin}:req_body:${++captureIds}`;
    this.expr = compileCheckedExpr(conf.include_req_body_expr, 'include_req_body_expr');
    this.limit = conf.max_req_body_bytes ?? 524288;
  }

  /** access: reads the body when this request's is to be logged. */
  read(ctx: PluginContext): Promise<undefined> | undefined {
    if (this.expr !== undefined && !this.expr((n) => ctx.var(n))) return undefined;
    const declared = Number(ctx.request.header('content-length'));
    if (declared > pluginNodeLimits().maxBufferedBodySize) return undefined;
    return ctx.request.body().then((body) => {
      ctx.shared.set(this.key, body);
      return undefined;
    });
  }

  /** log: the body read in access (at most max_req_body_bytes of it), or undefined. */
  body(ctx: PluginContext): string | undefined {
    const b = ctx.shared.get(this.key) as Buffer | undefined;
    return b === undefined ? undefined : b.subarray(0, this.limit).toString('utf8');
  }
}

/**
 * The two handlers of a logger that may capture the response body (`include_resp_body`):
 * body filtering is asked for only when capturing, and each chunk goes to the capture.
 * Spread into the plugin definition.
 */
export const responseBodyCaptureHandlers = {
  filtersBody(p: { capture: ResponseBodyCapture | undefined }): boolean {
    return p.capture !== undefined;
  },
  body_filter(p: { capture: ResponseBodyCapture | undefined }, ctx: PluginContext, chunk: Buffer): undefined {
    p.capture?.add(ctx, chunk);
    return undefined;
  },
};

/** What a logger instance reads of a request's bodies for its entries. */
export interface LogCapture {
  readonly capture: ResponseBodyCapture | undefined;
  readonly reqCapture: RequestBodyCapture | undefined;
}

/**
 * The body captures an instance needs. `include_req_body` / `include_resp_body` add the
 * bodies to the default entry only: with a `log_format` (the instance's or the metadata's;
 * a metadata edit prepares the instance again) the entry is the format's keys, so the
 * response is not captured (that would copy every response and drop its Content-Length),
 * and the request body is read only when the format names a body variable (`$request_body`
 * reads what was read). `rawRequest` (kafka-logger's `meta_format: origin`): the entry is
 * the request as it came, its body included, never the response's.
 */
export function prepareLogCapture(plugin: string, conf: LoggerCommonConf, format: CompiledLogFormat | undefined,
  rawRequest = false): LogCapture {
  const defaultShape = format === undefined && !rawRequest;
  const readsReqBody = rawRequest || format === undefined || usesBodyVariable(format.variables);
  const capture = conf.include_resp_body === true && defaultShape ? new ResponseBodyCapture(plugin, conf) : undefined;
  const reqCapture = conf.include_req_body === true && readsReqBody ? new RequestBodyCapture(plugin, conf) : undefined;
  // an expression unused for now is still refused when wrong: the format may go away
  if (capture === undefined && conf.include_resp_body === true) compileCheckedExpr(conf.include_resp_body_expr, 'include_resp_body_expr');
  if (reqCapture === undefined && conf.include_req_body === true) compileCheckedExpr(conf.include_req_body_expr, 'include_req_body_expr');
  return { capture, reqCapture };
}

/** The entry an instance logs: custom format if it has one, else the default shape (with the captured body). */
export function logEntry(format: CompiledLogFormat | undefined, ctx: PluginContext,
  capture: ResponseBodyCapture | undefined, reqCapture?: RequestBodyCapture): Record<string, unknown> {
  if (format !== undefined) return customLogEntry(format, ctx);
  return defaultLogEntry(ctx, capture?.body(ctx), reqCapture?.body(ctx));
}

/** A lua-resty-expr rule of a logger's config, refusing unknown variables with the field's name. */
export function compileCheckedExpr(rule: unknown[] | undefined, field: string): CompiledExpr | undefined {
  if (rule === undefined || rule.length === 0) return undefined;
  try {
    return compileExpr(rule, { checkVariable: isKnownVariable });
  } catch (err) {
    throw new Error(`failed to validate the '${field}' expression: ${(err as Error).message}`);
  }
}

/** plugin_metadata of a logger: its `log_format` may name only known variables. */
export function checkLoggerMetadata(metadata: Record<string, unknown>): void {
  const md = metadata.log_format;
  if (md !== null && typeof md === 'object' && !Array.isArray(md)) compileLogFormat(md as Record<string, unknown>);
}
