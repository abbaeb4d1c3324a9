import { definePlugin } from '../plugin-runtime/define-plugin.js';
import type { PluginContext } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { newSpanId, newTraceId } from '../observability/tracing/ids.js';
import { isB3SpanId, isB3TraceId, parseB3Single, type B3Context } from '../observability/tracing/b3.js';
import { formatTraceparent } from '../observability/tracing/trace-context.js';
import { SPAN_KIND, STATUS, type Attributes, type SpanRecord } from '../observability/tracing/span.js';
import { zipkinSpan, type ZipkinLocalEndpoint } from '../observability/tracing/zipkin-json.js';
import { responseSource } from '../observability/tracing/request-spans.js';
import { drainSpanExporters, SpanExporter, type SpanBatching } from './common/span-export.js';

// APISIX's zipkin plugin: B3 propagation in (the single `b3` header, else `x-b3-*`) and out
// (`x-b3-*` to the upstream), sampling by `sample_ratio` unless the caller decided, and the
// spans of a sampled request sent as Zipkin v2 JSON to `endpoint` in batches (APISIX's
// reporter settings: 1000 spans a batch, 5 s idle, no retry). The spans are APISIX's:
// `span_version` 2 makes `apisix.request` (server) with `apisix.proxy` (until the
// response head) and `apisix.response_span` (until the end); 1 makes `apisix.rewrite`,
// `apisix.access`, `apisix.proxy` and `apisix.body_filter` (under the proxy span).

const PLUGIN = 'zipkin';
for (const name of ['zipkin_context_traceparent', 'zipkin_trace_id', 'zipkin_span_id']) registerVariable(name);

interface ZipkinConf {
  endpoint: string;
  sample_ratio: number;
  service_name: string;
  server_addr?: string;
  span_version: 1 | 2;
}

interface ZipkinPrepared {
  conf: ZipkinConf;
  setVariables: boolean;
}

/** One request's spans being built, rewrite to log. */
interface RequestState {
  traceId: string;
  /** `apisix.request`, the server span. */
  spanId: string;
  /** The caller's span (from B3), the server span's parent. */
  parentSpanId: string | undefined;
  sampled: boolean;
  /** The span whose context goes upstream: the proxy span when sampled (made in rewrite or access). */
  proxySpanId: string | undefined;
  rewriteEnd: number;
  accessEnd: number;
  headerFilterAt: number | undefined;
}

const STATE = 'zipkin';

// APISIX's reporter: apisix/plugins/zipkin/reporter.lua
const BATCHING: SpanBatching = {
  maxQueueSize: 10_000, maxExportBatchSize: 1000, batchTimeoutMs: 60_000, inactiveTimeoutMs: 5000,
  dropOnQueueFull: true, maxRetryCount: 0, retryDelayMs: 1000,
};

/**
 * The worker's exporters, one per Zipkin endpoint and local endpoint (service name, the
 * listener's address and port), shared by every route reporting there: the span bound,
 * timers and back-off are per collector, not per route. Keyed by configuration values,
 * so they are few.
 */
const exporters = new Map<string, SpanExporter>();

function exporterOf(endpoint: string, local: ZipkinLocalEndpoint): SpanExporter {
  const key = `${endpoint} ${local.serviceName} ${local.ipv4 ?? ''}:${local.port ?? ''}`;
  let e = exporters.get(key);
  if (e === undefined) {
    e = new SpanExporter({
      plugin: PLUGIN, url: endpoint, headers: {}, timeoutMs: 10_000, batching: BATCHING,
      encode: (spans) => ({ body: JSON.stringify(spans.map((s) => zipkinSpan(s, local))), contentType: 'application/json' }),
    });
    exporters.set(key, e);
  }
  return e;
}

/** B3 from the `x-b3-*` headers. */
function multiHeaders(ctx: PluginContext): B3Context {
  const h = (n: string): string | undefined => ctx.request.header(n);
  return { traceId: h('x-b3-traceid'), spanId: h('x-b3-spanid'), parentSpanId: h('x-b3-parentspanid'), sampled: h('x-b3-sampled') };
}

/** The caller's context when its ids are usable: a malformed one starts a new trace (warned, as APISIX). */
function callerOf(ctx: PluginContext, b3: B3Context): { traceId: string; spanId: string | undefined } | undefined {
  const bad = (b3.traceId !== undefined && !isB3TraceId(b3.traceId) && 'x-b3-traceid')
    || (b3.parentSpanId !== undefined && !isB3SpanId(b3.parentSpanId) && 'x-b3-parentspanid')
    || (b3.spanId !== undefined && !isB3SpanId(b3.spanId) && 'x-b3-spanid');
  if (bad !== false && bad !== undefined) {
    ctx.log.warn({ plugin: PLUGIN }, `${bad} header invalid; ignoring.`);
    return undefined;
  }
  if (b3.traceId === undefined) return undefined;
  return { traceId: b3.traceId.toLowerCase(), spanId: b3.spanId?.toLowerCase() };
}

function span(st: RequestState, spanId: string, parentSpanId: string | undefined, name: string, start: number, end: number,
  attributes: Attributes = [], kind: SpanRecord['kind'] = SPAN_KIND.INTERNAL): SpanRecord {
  return {
    traceId: st.traceId, spanId, parentSpanId, traceState: '', name, kind, start, end: Math.max(start, end),
    attributes, status: STATUS.UNSET, statusMessage: '',
  };
}

export default definePlugin<ZipkinConf, ZipkinPrepared>({
  name: PLUGIN,
  description: 'Traces requests with Zipkin: B3 headers in and out, spans reported as Zipkin v2 JSON in batches.',
  version: 0.1,
  stage: 'authorization',
  priority: 974,
  schema: {
    type: 'object',
    properties: {
      endpoint: { type: 'string', pattern: '^[Hh][Tt][Tt][Pp][Ss]?://[^/?#]+' },
      sample_ratio: { type: 'number', minimum: 0.00001, maximum: 1 },
      service_name: { type: 'string', default: 'APISIX' },
      server_addr: { type: 'string', pattern: '^[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}$' },
      span_version: { enum: [1, 2], default: 2 },
    },
    required: ['endpoint', 'sample_ratio'],
    additionalProperties: false,
  },
  // APISIX sets the variables with config.yaml's plugin_attr.zipkin.set_ngx_var; here it is the plugin's metadata
  metadataSchema: {
    type: 'object',
    properties: { set_ngx_var: { type: 'boolean', default: false } },
    additionalProperties: false,
  },

  prepare(conf, env) {
    try {
      new URL(conf.endpoint);
    } catch (err) {
      throw new Error(`endpoint: not a URL (${(err as Error).message})`);
    }
    return { conf, setVariables: env.metadata?.set_ngx_var === true };
  },

  rewrite(p, ctx) {
    const req = ctx.request;
    let forced = req.header('x-b3-flags') === '1';
    let b3: B3Context;
    const single = req.header('b3');
    if (single !== undefined) {
      // never passed on: the upstream gets the x-b3-* headers
      req.setHeader('b3', undefined);
      const parsed = parseB3Single(single);
      if (parsed === undefined) {
        ctx.log.error({ plugin: PLUGIN }, `invalid b3 header: ${single}, ignored: missing span_id`);
        return { status: 400 };
      }
      b3 = parsed;
      if (b3.sampled === 'd') {
        req.setHeader('x-b3-flags', '1');
        forced = true;
      }
    } else {
      b3 = multiHeaders(ctx);
    }
    const caller = callerOf(ctx, b3);
    const s = b3.sampled;
    const ratio = forced || s === '1' || s === 'true' || s === 'd' ? 1 : s === '0' || s === 'false' ? 0 : p.conf.sample_ratio;
    const sampled = Math.random() < ratio;
    const now = performance.now();
    const st: RequestState = {
      traceId: caller?.traceId ?? newTraceId(), spanId: newSpanId(), parentSpanId: caller?.spanId, sampled,
      proxySpanId: undefined, rewriteEnd: now, accessEnd: now, headerFilterAt: undefined,
    };
    if (sampled && p.conf.span_version === 2) st.proxySpanId = newSpanId();
    ctx.shared.set(STATE, st);
    if (p.setVariables) {
      // a 64-bit trace id is widened to the 32 digits a traceparent needs
      ctx.setVar('zipkin_context_traceparent', formatTraceparent(st.traceId.padStart(32, '0'), st.spanId, sampled));
      ctx.setVar('zipkin_trace_id', st.traceId);
      ctx.setVar('zipkin_span_id', st.spanId);
    }
  },

  access(_p, ctx) {
    const st = ctx.shared.get(STATE) as RequestState | undefined;
    if (st === undefined) return;
    st.accessEnd = performance.now();
    if (st.sampled && st.proxySpanId === undefined) st.proxySpanId = newSpanId();
    // a sampled request passes on its proxy span, child of the server span; any other the server span itself
    const req = ctx.request;
    const sent = st.sampled ? st.proxySpanId! : st.spanId;
    req.setHeader('x-b3-traceid', st.traceId);
    req.setHeader('x-b3-spanid', sent);
    req.setHeader('x-b3-parentspanid', st.sampled ? st.spanId : st.parentSpanId);
    req.setHeader('x-b3-sampled', st.sampled ? '1' : '0');
  },

  header_filter(_p, ctx) {
    const st = ctx.shared.get(STATE) as RequestState | undefined;
    if (st !== undefined && st.sampled) st.headerFilterAt = performance.now();
  },

  log(p, ctx) {
    const st = ctx.shared.get(STATE) as RequestState | undefined;
    if (st === undefined) return;
    ctx.shared.delete(STATE);
    if (!st.sampled) return;
    const end = performance.now();
    const start = ctx.startedAt;
    const v = (name: string): unknown => ctx.var(name);
    const tags: Attributes = [
      'component', 'apisix', 'http.method', ctx.request.method, 'http.url', String(v('request_uri') ?? ''),
      'peer.ipv4', String(v('remote_addr') ?? ''), 'peer.port', Number(v('remote_port') ?? 0),
      'http.status_code', String(ctx.response.status), 'apisix.response_source', responseSource(v),
    ];
    const spans = [span(st, st.spanId, st.parentSpanId, 'apisix.request', start, end, tags, SPAN_KIND.SERVER)];
    const proxyId = st.proxySpanId ?? newSpanId();
    const head = st.headerFilterAt;
    if (p.conf.span_version === 2) {
      spans.push(span(st, proxyId, st.spanId, 'apisix.proxy', start, head ?? end));
      if (head !== undefined) spans.push(span(st, newSpanId(), st.spanId, 'apisix.response_span', head, end));
    } else {
      spans.push(span(st, newSpanId(), st.spanId, 'apisix.rewrite', start, st.rewriteEnd));
      spans.push(span(st, newSpanId(), st.spanId, 'apisix.access', st.rewriteEnd, st.accessEnd));
      spans.push(span(st, proxyId, st.spanId, 'apisix.proxy', st.accessEnd, end));
      if (head !== undefined) spans.push(span(st, newSpanId(), proxyId, 'apisix.body_filter', head, end));
    }
    const port = Number(v('server_port'));
    const exporter = exporterOf(p.conf.endpoint, {
      serviceName: p.conf.service_name, ipv4: p.conf.server_addr ?? (v('server_addr') as string | undefined), port: Number.isFinite(port) ? port : undefined,
    });
    for (const s of spans) exporter.add(s);
  },

  destroy: drainSpanExporters,
});
