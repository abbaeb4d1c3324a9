import type { HandlerCall, UpstreamAttempt } from '../../contracts/trace-record.js';
import { newSpanId } from './ids.js';
import { SPAN_KIND, STATUS, type Attributes, type SpanRecord } from './span.js';
import { urlHost } from '../../core/host-port.js';

// The spans of one proxied request, from what it left behind: the gateway's server span
// (built by the plugin), a client span per upstream attempt, and with node `tracing` a span
// per phase and per plugin handler (APISIX's `apisix.phase.<phase>` and
// `apisix.phase.<phase>.plugins.<name>`). Attribute names are OpenTelemetry's semantic
// conventions for HTTP.

/** The trace a request's spans belong to: its id, the server span (their parent), its tracestate. */
export interface SpanParent {
  traceId: string;
  spanId: string;
  traceState: string;
}

function child(parent: SpanParent, parentSpanId: string, name: string, kind: SpanRecord['kind'], start: number, end: number, attributes: Attributes): SpanRecord {
  return {
    traceId: parent.traceId, spanId: newSpanId(), parentSpanId, traceState: parent.traceState,
    name, kind, start, end, attributes, status: STATUS.UNSET, statusMessage: '',
  };
}

/** What an upstream client span says about the request sent (the same for every attempt). */
export interface UpstreamRequest {
  method: string;
  scheme: string;
  /** Path and query sent upstream. */
  target: string;
}

/**
 * A client span per attempt (OpenTelemetry's HTTP client conventions): a retried one says
 * how many went before it (`http.request.resend_count`); a failed attempt, or an answer of
 * 400 and above, is an error, with `error.type` the failure's code or the status.
 */
export function upstreamSpans(parent: SpanParent, attempts: readonly UpstreamAttempt[], req: UpstreamRequest): SpanRecord[] {
  const out: SpanRecord[] = [];
  for (let i = 0; i < attempts.length; i++) {
    const a = attempts[i]!;
    const host = urlHost(a.host);
    const attrs: Attributes = [
      'http.request.method', req.method, 'server.address', a.host, 'server.port', a.port,
      'network.peer.address', a.host, 'network.peer.port', a.port, 'url.full', `${req.scheme}://${host}:${a.port}${req.target}`,
    ];
    if (i > 0) attrs.push('http.request.resend_count', i);
    if (a.status !== undefined) attrs.push('http.response.status_code', a.status);
    const error = a.error ?? (a.status !== undefined && a.status >= 400 ? String(a.status) : undefined);
    if (error !== undefined) attrs.push('error.type', error);
    const span = child(parent, parent.spanId, req.method, SPAN_KIND.CLIENT, a.start, a.end, attrs);
    if (error !== undefined) {
      span.status = STATUS.ERROR;
      span.statusMessage = a.error !== undefined ? `upstream attempt failed: ${a.error}` : `upstream answered ${a.status!}`;
    }
    out.push(span);
  }
  return out;
}

/**
 * APISIX's `apisix.tracing` spans: consecutive handler calls of one phase under a span of
 * that phase (the global rules' rewrite and the route's are two), each handler a span of
 * its own; body_filter's calls over the chunks of a response are one span per plugin, with
 * `apisix.plugin.calls` saying how many.
 */
export function phaseSpans(parent: SpanParent, calls: readonly HandlerCall[]): SpanRecord[] {
  const out: SpanRecord[] = [];
  let i = 0;
  while (i < calls.length) {
    const phase = calls[i]!.phase;
    let j = i;
    let end = calls[i]!.end;
    while (j < calls.length && calls[j]!.phase === phase) end = Math.max(end, calls[j++]!.end);
    const phaseSpan = child(parent, parent.spanId, `apisix.phase.${phase}`, SPAN_KIND.INTERNAL, calls[i]!.start, end, []);
    out.push(phaseSpan);
    for (let k = i; k < j; k++) {
      const c = calls[k]!;
      const attrs: Attributes = c.calls > 1 ? ['apisix.plugin.calls', c.calls] : [];
      out.push(child(parent, phaseSpan.spanId, `apisix.phase.${phase}.plugins.${c.plugin}`, SPAN_KIND.INTERNAL, c.start, c.end, attrs));
    }
    i = j;
  }
  return out;
}

/**
 * APISIX's `apisix.response_source`: `upstream` when an upstream's answer was passed on,
 * `nginx` when the gateway answered for an upstream that failed (502, 504…), `apisix`
 * for every other answer of the gateway's own (a plugin's, a 404 for no route).
 */
export function responseSource(v: (name: string) => unknown): 'upstream' | 'nginx' | 'apisix' {
  if (v('plugin_responded') !== undefined) return 'apisix';
  if (v('upstream_header_time') !== undefined) return 'upstream';
  return v('upstream_addr') !== undefined ? 'nginx' : 'apisix';
}
