import { hostname as osHostname } from 'node:os';
import type { HttpRequest } from '../data-plane/http1/request.js';
import type { PluginRun } from '../plugin-runtime/plugin-run.js';

// What loggers and metrics want to know about a request once it is done, as nginx /
// APISIX variables (`ctx.var(name)` in the log phase, `$name` in a `log_format`): the
// upstream that answered, sizes, timings and which route pattern matched. Computed on
// demand from the exchange, so a request nobody logs pays nothing.

const HOSTNAME = osHostname();

/**
 * The variables below by name: one hash lookup finds a name's resolver (a metrics or log
 * plugin reads several of them for every request; a switch over all the names costs a
 * comparison per case on the way to the last ones).
 */
export const FINISHED_VARS: ReadonlyMap<string, (run: PluginRun) => unknown> = new Map<string, (run: PluginRun) => unknown>([
  ['upstream_addr', (run) => {
    const n = run.ex.upstreamNode;
    if (n === undefined) return undefined;
    return n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`;
  }],
  ['balancer_ip', (run) => run.ex.upstreamNode?.host],
  ['balancer_port', (run) => run.ex.upstreamNode?.port],
  ['upstream_status', (run) => run.ex.upstreamStatus],
  ['upstream_response_time', (run) => run.ex.upstreamMs === undefined ? undefined : seconds(run.ex.upstreamMs)],
  ['request_time', (run) => seconds(performance.now() - run.ex.startedAt)],
  ['request_length', (run) => requestLength(run.ex.req)],
  ['bytes_sent', (run) => bytesSent(run)],
  ['body_bytes_sent', (run) => (run.ex.res as { bodyBytes?: number } | undefined)?.bodyBytes],
  ['msec', () => Date.now() / 1000],
  ['time_iso8601', () => isoLocal(new Date())],
  ['time_local', () => nginxLocal(new Date())],
  ['hostname', () => HOSTNAME],
  ['matched_uri', (run) => matchedUri(run)],
  ['matched_host', (run) => matchedHost(run)],
]);

/** A variable the request-time ones (RequestVars) do not know; undefined when it is not one of these either. */
export function finishedVar(run: PluginRun, name: string): unknown {
  const resolve = FINISHED_VARS.get(name);
  if (resolve !== undefined) return resolve(run);
  if (name.startsWith('sent_http_')) return run.response.header(name.slice(10).replace(/_/g, '-'));
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
function bytesSent(run: PluginRun): number | undefined {
  return (run.ex.res as { bytesSent?: number } | undefined)?.bytesSent;
}

/** The route's uri pattern that matched (APISIX's `curr_req_matched._path`), '' without a route. */
function matchedUri(run: PluginRun): string {
  const conf = run.ex.route?.conf;
  if (conf === undefined) return '';
  if (conf.uris === undefined) return conf.uri ?? '';
  const uris = conf.uris;
  if (uris.length <= 1) return uris[0] ?? '';
  const path = run.ex.vars.facts.path;
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
function matchedHost(run: PluginRun): string {
  const route = run.ex.route;
  if (route === undefined) return '';
  const conf = route.conf;
  if (conf.hosts === undefined && conf.host !== undefined) return conf.host;
  const hosts = conf.hosts ?? route.service?.hosts;
  if (hosts === undefined || hosts.length === 0) return '';
  if (hosts.length === 1) return hosts[0]!;
  const host = run.ex.vars.facts.host;
  for (const h of hosts) if (h.toLowerCase() === host) return h;
  for (const h of hosts) if (h.startsWith('*') && host.endsWith(h.slice(1).toLowerCase())) return h;
  return '';
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

function offset(d: Date, sep: string): string {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const abs = Math.abs(off);
  return `${sign}${pad(Math.floor(abs / 60))}${sep}${pad(abs % 60)}`;
}

/** nginx `time_iso8601`: local time, e.g. `2024-05-01T12:00:00+02:00`. */
export function isoLocal(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${offset(d, ':')}`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** nginx `time_local`: e.g. `01/May/2024:12:00:00 +0200`. */
export function nginxLocal(d: Date): string {
  return `${pad(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${offset(d, '')}`;
}
