import type { HttpRequest } from './http1/request.js';
import type { BalancerNode } from '../contracts/balancer.js';
import type { CompiledRoute } from './snapshot.js';
import type { PluginResponse } from '../contracts/plugin.js';
import { RESPONSE_VARIABLES } from '../core/expr/variables.js';
import { hostPort } from '../core/host-port.js';

export { isoLocal, nginxLocal } from './clock-vars.js';

// What loggers and metrics want to know about a request once it is done, as nginx /
// APISIX variables (`ctx.var(name)` in the log phase, `$name` in a `log_format`): the
// upstream that answered, sizes, timings and which route pattern matched. Computed on
// demand from the exchange, so a request nobody logs pays nothing. The names are
// core/expr/variables.ts's RESPONSE_VARIABLES (`status` is PluginRun's own).

/** What these variables read of a request: the Exchange's upstream record, sizes and route. */
export interface FinishedExchange {
  readonly req: HttpRequest;
  readonly res: { readonly bytesSent?: number; readonly bodyBytes?: number } | undefined;
  readonly route: CompiledRoute | undefined;
  readonly vars: { readonly facts: { readonly path: string; readonly host: string } };
  readonly startedAt: number;
  readonly upstreamNode: BalancerNode | undefined;
  readonly upstreamStatus: number | undefined;
  readonly upstreamMs: number | undefined;
  readonly upstreamHeaderMs: number | undefined;
  readonly upstreamBodyBytes: number | undefined;
  readonly upstreamHeaders: readonly string[] | undefined;
  readonly upstreamUri: string;
  readonly upstreamHostSent: string | undefined;
  readonly grpcStatus?: string | undefined;
  readonly grpcMessage?: string | undefined;
  /** The request's plugin run, when it has plugins. */
  readonly plugins: { readonly respondedBy: string | undefined } | undefined;
}

/**
 * The variables below by name: one hash lookup finds a name's resolver (a metrics or log
 * plugin reads several of them for every request; a switch over all the names costs a
 * comparison per case on the way to the last ones).
 */
export const FINISHED_VARS: ReadonlyMap<string, (ex: FinishedExchange) => unknown> = new Map<string, (ex: FinishedExchange) => unknown>([
  ['upstream_addr', (ex) => {
    const n = ex.upstreamNode;
    if (n === undefined) return undefined;
    return hostPort(n.host, n.port);
  }],
  ['balancer_ip', (ex) => ex.upstreamNode?.host],
  ['balancer_port', (ex) => ex.upstreamNode?.port],
  ['upstream_status', (ex) => ex.upstreamStatus],
  ['grpc_status', (ex) => ex.grpcStatus],
  ['grpc_message', (ex) => ex.grpcMessage],
  ['upstream_response_time', (ex) => ex.upstreamMs === undefined ? undefined : seconds(ex.upstreamMs)],
  ['apisix_upstream_response_time', (ex) => ex.upstreamMs === undefined ? undefined : seconds(ex.upstreamMs)],
  ['upstream_header_time', (ex) => ex.upstreamHeaderMs === undefined ? undefined : seconds(ex.upstreamHeaderMs)],
  ['upstream_response_length', (ex) => ex.upstreamBodyBytes],
  ['upstream_uri', (ex) => ex.upstreamUri],
  ['upstream_host', (ex) => ex.upstreamHostSent],
  ['upstream_scheme', (ex) => (ex.route?.upstream === undefined ? undefined : ex.route.upstream.conf.scheme ?? 'http')],
  ['request_time', (ex) => seconds(performance.now() - ex.startedAt)],
  ['request_length', (ex) => requestLength(ex.req)],
  ['request_completion', (ex) => (ex.req.complete ? 'OK' : '')],
  ['bytes_sent', (ex) => bytesSent(ex)],
  ['body_bytes_sent', (ex) => (ex.res as { bodyBytes?: number } | undefined)?.bodyBytes],
  ['matched_uri', (ex) => matchedUri(ex)],
  ['matched_host', (ex) => matchedHost(ex)],
  ['plugin_responded', (ex) => ex.plugins?.respondedBy],
]);

for (const name of RESPONSE_VARIABLES) {
  if (name !== 'status' && !FINISHED_VARS.has(name)) throw new Error(`response variable ${name} is registered but has no resolver`);
}

/** A variable the request-time ones (RequestVars) do not know; undefined when it is not one of these either. */
export function finishedVar(ex: FinishedExchange, name: string, response: PluginResponse | undefined): unknown {
  const resolve = FINISHED_VARS.get(name);
  if (resolve !== undefined) return resolve(ex);
  if (name.startsWith('sent_http_')) return response?.header(name.slice(10).replace(/_/g, '-'));
  if (name.startsWith('upstream_http_')) return upstreamHeader(ex, name.slice(14).replace(/_/g, '-'));
  if (name.startsWith('upstream_cookie_')) return upstreamCookie(ex, name.slice(16));
  return undefined;
}

/** A header of the upstream's response as it came (before header_filter edited it); repeated ones joined with ', '. */
function upstreamHeader(ex: FinishedExchange, lowerName: string): string | undefined {
  const raw = ex.upstreamHeaders;
  if (raw === undefined) return undefined;
  let out: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length !== lowerName.length || name.toLowerCase() !== lowerName) continue;
    const value = raw[i + 1]!;
    out = out === undefined ? value : `${out}, ${value}`;
  }
  return out;
}

/** nginx `upstream_cookie_<name>`: a cookie the upstream set (Set-Cookie). */
function upstreamCookie(ex: FinishedExchange, cookie: string): string | undefined {
  const raw = ex.upstreamHeaders;
  if (raw === undefined) return undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.length !== 10 || raw[i]!.toLowerCase() !== 'set-cookie') continue;
    const pair = raw[i + 1]!.split(';', 1)[0]!;
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).trim() === cookie) return pair.slice(eq + 1).trim();
  }
  return undefined;
}

/** nginx prints times in seconds with millisecond resolution. */
function seconds(ms: number): number {
  return Math.round(ms) / 1000;
}

/**
 * nginx `request_length`: request line, headers and body as read from the socket. The
 * HTTP layer counts the bytes of each request itself; a request built elsewhere (the
 * plugin-chain inspector's sample) is measured from its parts, the body by Content-Length.
 */
export function requestLength(req: RequestParts): number {
  if (typeof req.bytesRead === 'number') return req.bytesRead;
  let n = req.method.length + 1 + req.url.length + 1 + 8 + 2 + 2;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) n += raw[i]!.length + 2 + raw[i + 1]!.length + 2;
  const body = Number(req.headers['content-length'] ?? 0);
  return Number.isFinite(body) ? n + body : n;
}

type RequestParts = Pick<HttpRequest, 'method' | 'url' | 'rawHeaders' | 'headers'> & { bytesRead?: number };

/** nginx `bytes_sent`: what went to the client for this response, status line, headers and framing included (the HTTP layer counts it). */
function bytesSent(ex: FinishedExchange): number | undefined {
  return (ex.res as { bytesSent?: number } | undefined)?.bytesSent;
}

/** The route's uri pattern that matched (APISIX's `curr_req_matched._path`), '' without a route. */
function matchedUri(ex: FinishedExchange): string {
  const conf = ex.route?.conf;
  if (conf === undefined) return '';
  if (conf.uris === undefined) return conf.uri ?? '';
  const uris = conf.uris;
  if (uris.length <= 1) return uris[0] ?? '';
  const path = ex.vars.facts.path;
  // The router does not say which of several patterns matched: exact first, then the
  // longest prefix, then a parameter pattern of the same depth (the router's own order).
  if (uris.includes(path)) return path;
  let best = '';
  for (const u of uris) if (u.endsWith('*') && path.startsWith(u.slice(0, -1)) && u.length > best.length) best = u;
  if (best !== '') return best;
  const depth = path.split('/').length;
  return uris.find((u) => u.includes(':') && u.split('/').length === depth) ?? '';
}

/** The host pattern that matched (APISIX's `curr_req_matched._host`), '' when the route has none. */
function matchedHost(ex: FinishedExchange): string {
  const route = ex.route;
  if (route === undefined) return '';
  const conf = route.conf;
  if (conf.hosts === undefined && conf.host !== undefined) return conf.host;
  const hosts = conf.hosts ?? route.service?.hosts;
  if (hosts === undefined || hosts.length === 0) return '';
  if (hosts.length === 1) return hosts[0]!;
  const host = ex.vars.facts.host;
  for (const h of hosts) if (h.toLowerCase() === host) return h;
  for (const h of hosts) if (h.startsWith('*') && host.endsWith(h.slice(1).toLowerCase())) return h;
  return '';
}
