import { hostname } from 'node:os';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import type { PluginContext } from '../contracts/plugin.js';
import type { TraceRecord } from '../contracts/trace-record.js';
import { checkVariables, registerVariable } from '../core/expr/index.js';
import { VERSION } from '../core/version.js';
import { isTraceId, newSpanId, newTraceId } from '../observability/tracing/ids.js';
import { formatTraceparent, parseTraceparent, type ParentContext } from '../observability/tracing/trace-context.js';
import { samplerOf, type Sampler, type SamplerConf } from '../observability/tracing/sampler.js';
import { DoubleValue, SPAN_KIND, STATUS, type Attributes, type SpanRecord } from '../observability/tracing/span.js';
import { encodeExportRequest, type OtlpSource } from '../observability/tracing/otlp.js';
import { phaseSpans, responseSource, upstreamSpans, type SpanParent } from '../observability/tracing/request-spans.js';
import { drainSpanExporters, SpanExporter, type SpanBatching } from './common/span-export.js';
import { headerMapSchema, HEADER_TEXT_SCHEMA } from './common/headers.js';
import { checkHttpScheme } from './common/log-http.js';

// APISIX's opentelemetry plugin: a server span per request, exported over OTLP/HTTP in
// protobuf to `<collector.address>/v1/traces`, with the collector, resource and batching
// in the plugin metadata (APISIX ≥ 3.12). W3C trace context is read from the client and
// the server span's context is what goes upstream in `traceparent` (as APISIX does, so the
// upstream's spans are children of the gateway's server span, beside its client spans).
// Beyond APISIX, each upstream attempt is a client span, and with the node config's
// `tracing` each phase and plugin handler is a span too (APISIX's `apisix.tracing`).
//
// The request path stays cheap: ids are hex strings from a pooled random buffer, a request
// the sampler turns down costs its ids and the `traceparent` header, and a sampled one is
// kept as plain records until its log phase; encoding and sending happen in batches, off
// the request path, bounded in memory whatever the collector does (common/span-export.ts).

const PLUGIN = 'opentelemetry';
for (const name of ['opentelemetry_context_traceparent', 'opentelemetry_trace_id', 'opentelemetry_span_id']) registerVariable(name);

interface OtelConf {
  sampler: SamplerConf;
  additional_attributes?: string[];
  additional_header_prefix_attributes?: string[];
}

export interface OtelMetadata {
  trace_id_source?: 'x-request-id' | 'random';
  resource?: Record<string, string | number | boolean>;
  collector?: { address?: string; request_timeout?: number; request_headers?: Record<string, string | number | boolean> };
  batch_span_processor?: {
    drop_on_queue_full?: boolean; max_queue_size?: number; batch_timeout?: number; inactive_timeout?: number; max_export_batch_size?: number;
  };
  set_ngx_var?: boolean;
}

/** What one metadata object configures, shared by every route's instance (one exporter per worker). */
interface Pipeline {
  traceIdFromRequestId: boolean;
  setVariables: boolean;
  source: OtlpSource;
  url: string;
  headers: Record<string, string>;
  timeoutMs: number;
  batching: SpanBatching;
  /** Made on the first span: prepare also runs where nothing is exported (the Admin API's checks). */
  exporter: SpanExporter | undefined;
}

interface OtelPrepared {
  conf: OtelConf;
  sampler: Sampler;
  pipeline: Pipeline | undefined;
  /** `additional_header_prefix_attributes`: exact header names, and the prefixes of those ending in `*` (lower case). */
  headerNames: string[];
  headerPrefixes: string[];
  warnedNoMetadata: boolean;
}

/** One request's trace, from rewrite to log (kept in `ctx.shared` for sampled requests only). */
interface RequestState extends SpanParent {
  parent: ParentContext | undefined;
  record: TraceRecord | undefined;
}

const STATE = 'opentelemetry';

const FRACTION = { type: 'number', minimum: 0, maximum: 1, default: 0 } as const;
const SCALAR = { type: ['string', 'number', 'boolean'] } as const;

const SCHEMA = {
  type: 'object',
  properties: {
    sampler: {
      type: 'object',
      properties: {
        name: { type: 'string', enum: ['always_on', 'always_off', 'trace_id_ratio', 'parent_base'], default: 'always_off' },
        options: {
          type: 'object',
          properties: {
            fraction: FRACTION,
            root: {
              type: 'object',
              properties: {
                name: { type: 'string', enum: ['always_on', 'always_off', 'trace_id_ratio'], default: 'always_off' },
                options: { type: 'object', properties: { fraction: FRACTION }, additionalProperties: false, default: { fraction: 0 } },
              },
              additionalProperties: false,
              default: { name: 'always_off', options: { fraction: 0 } },
            },
          },
          additionalProperties: false,
          default: { fraction: 0, root: { name: 'always_off' } },
        },
      },
      additionalProperties: false,
      default: { name: 'always_off', options: { fraction: 0, root: { name: 'always_off' } } },
    },
    additional_attributes: { type: 'array', items: { type: 'string', minLength: 1 } },
    additional_header_prefix_attributes: { type: 'array', items: { type: 'string', minLength: 1 } },
  },
  additionalProperties: false,
};

const METADATA_SCHEMA = {
  type: 'object',
  properties: {
    trace_id_source: { type: 'string', enum: ['x-request-id', 'random'], default: 'random' },
    resource: { type: 'object', additionalProperties: SCALAR },
    collector: {
      type: 'object',
      properties: {
        address: { type: 'string', minLength: 1, default: '127.0.0.1:4318' },
        request_timeout: { type: 'integer', minimum: 1, default: 3 },
        // may carry the collector's credentials (an Authorization header): masked for viewer keys
        request_headers: { ...headerMapSchema({ type: ['string', 'number', 'boolean'], pattern: HEADER_TEXT_SCHEMA.pattern }, 0), encrypted: true },
      },
      additionalProperties: false,
      default: { address: '127.0.0.1:4318', request_timeout: 3 },
    },
    batch_span_processor: {
      type: 'object',
      properties: {
        drop_on_queue_full: { type: 'boolean', default: true },
        max_queue_size: { type: 'integer', minimum: 1, default: 2048 },
        batch_timeout: { type: 'number', exclusiveMinimum: 0, default: 5 },
        inactive_timeout: { type: 'number', exclusiveMinimum: 0, default: 2 },
        max_export_batch_size: { type: 'integer', minimum: 1, default: 256 },
      },
      additionalProperties: false,
      default: {},
    },
    set_ngx_var: { type: 'boolean', default: false },
  },
  additionalProperties: false,
};

/** `<address>/v1/traces`: a bare host:port is http, a URL keeps its path unless it has none (opentelemetry-lua's rule). */
export function collectorUrl(address: string): string {
  const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(address) ? address : `http://${address}`);
  checkHttpScheme(url.href, 'collector.address');
  if (url.pathname === '' || url.pathname === '/') url.pathname = '/v1/traces';
  return url.toString();
}

/** Checks what the schema cannot: the address parses, the queue is larger than a batch (opentelemetry-lua asserts it). */
function checkMetadata(md: OtelMetadata): void {
  try {
    collectorUrl(md.collector?.address ?? '127.0.0.1:4318');
  } catch (err) {
    const msg = (err as Error).message;
    throw new Error(msg.startsWith('collector.address') ? msg : `collector.address: not a host:port or an http(s) URL (${msg})`);
  }
  const b = md.batch_span_processor ?? {};
  const queue = b.max_queue_size ?? 2048;
  const batch = b.max_export_batch_size ?? 256;
  if (queue <= batch) {
    throw new Error(`batch_span_processor.max_queue_size (${queue}) must be larger than batch_span_processor.max_export_batch_size (${batch})`);
  }
}

/** Where and how the metadata's spans are sent: `collector` and `batch_span_processor`, with APISIX's defaults. */
export function exportSettingsOf(md: OtelMetadata): Pick<Pipeline, 'url' | 'headers' | 'timeoutMs' | 'batching'> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(md.collector?.request_headers ?? {})) headers[k.toLowerCase()] = String(v);
  const b = md.batch_span_processor ?? {};
  return {
    url: collectorUrl(md.collector?.address ?? '127.0.0.1:4318'),
    headers,
    timeoutMs: (md.collector?.request_timeout ?? 3) * 1000,
    batching: {
      maxQueueSize: b.max_queue_size ?? 2048,
      maxExportBatchSize: b.max_export_batch_size ?? 256,
      batchTimeoutMs: (b.batch_timeout ?? 5) * 1000,
      inactiveTimeoutMs: (b.inactive_timeout ?? 2) * 1000,
      dropOnQueueFull: b.drop_on_queue_full ?? true,
      // opentelemetry-lua tries a batch three times
      maxRetryCount: 2,
      retryDelayMs: 1000,
    },
  };
}

const pipelines = new WeakMap<object, Pipeline>();

/** The pipeline of a metadata object (one per object: an edited metadata starts a new exporter, the old one drains). */
function pipelineOf(md: OtelMetadata): Pipeline {
  let p = pipelines.get(md);
  if (p !== undefined) return p;
  checkMetadata(md);
  const resource: Attributes = ['hostname', hostname()];
  if (md.resource !== undefined) {
    // as APISIX: a configured resource gets service.name APISIX unless it names its own; none at all without a resource
    if (md.resource['service.name'] === undefined) resource.push('service.name', 'APISIX');
    for (const [k, v] of Object.entries(md.resource)) resource.push(k, typeof v === 'number' ? new DoubleValue(v) : v);
  }
  p = {
    traceIdFromRequestId: md.trace_id_source === 'x-request-id',
    setVariables: md.set_ngx_var === true,
    source: { resource, scopeName: 'gatehouse', scopeVersion: VERSION },
    ...exportSettingsOf(md),
    exporter: undefined,
  };
  pipelines.set(md, p);
  return p;
}

function exporterOf(p: Pipeline): SpanExporter {
  return p.exporter ??= new SpanExporter({
    plugin: PLUGIN, url: p.url, headers: p.headers, timeoutMs: p.timeoutMs, batching: p.batching,
    encode: (spans) => ({ body: encodeExportRequest(p.source, spans), contentType: 'application/x-protobuf' }),
  });
}

/**
 * `trace_id_source: x-request-id`: the client's X-Request-Id when it is a valid trace id
 * (32 hex digits, not all zeros; upper case is lowered), `$request_id` when there is no
 * such header, and a random id when the header is something else (a UUID…), as APISIX.
 */
export function requestIdTraceId(ctx: Pick<PluginContext, 'request' | 'var'>): string {
  const header = ctx.request.header('x-request-id');
  const id = header === undefined ? String(ctx.var('request_id') ?? '') : header.toLowerCase();
  return isTraceId(id) ? id : newTraceId();
}

/** A variable's or header's value as an attribute: text, as APISIX sends them. */
function text(v: unknown): string | undefined {
  return v === undefined || v === null ? undefined : String(v);
}

function push(attrs: Attributes, key: string, v: unknown): void {
  const s = text(v);
  if (s !== undefined) attrs.push(key, s);
}

/** `additional_attributes` (variables, read in the log phase) and `additional_header_prefix_attributes` (request headers). */
function additionalAttributes(p: OtelPrepared, ctx: PluginContext, attrs: Attributes): void {
  for (const name of p.conf.additional_attributes ?? []) push(attrs, name, ctx.var(name));
  for (const name of p.headerNames) push(attrs, name, ctx.request.header(name));
  if (p.headerPrefixes.length === 0) return;
  const all = ctx.request.allHeaders?.() ?? {};
  for (const [name, value] of Object.entries(all)) {
    if (p.headerPrefixes.some((prefix) => name.startsWith(prefix))) attrs.push(name, value);
  }
}

/**
 * The server span, as APISIX names and fills it (plus the client's address). What the
 * request itself says is read from it; each variable is read once (a variable by name
 * costs a few hash lookups, `http_*` a name rewrite too).
 */
function serverSpan(p: OtelPrepared, ctx: PluginContext, st: RequestState, end: number): SpanRecord {
  const v = (name: string): unknown => ctx.var(name);
  const req = ctx.request;
  const method = req.method;
  const scheme = text(v('scheme'));
  const userAgent = text(v('http_user_agent'));
  const attrs: Attributes = ['net.host.name', req.host, 'http.method', method];
  push(attrs, 'http.scheme', scheme);
  push(attrs, 'http.target', v('request_uri'));
  push(attrs, 'http.user_agent', userAgent);
  attrs.push('http.request.method', method);
  push(attrs, 'url.scheme', scheme);
  attrs.push('url.path', req.uri);
  push(attrs, 'user_agent.original', userAgent);
  attrs.push('client.address', req.remoteAddr);
  push(attrs, 'network.peer.address', v('realip_remote_addr'));
  push(attrs, 'network.peer.port', v('remote_port'));
  let name = method;
  if (ctx.routeId !== undefined) {
    const path = text(v('matched_uri')) ?? '';
    attrs.push('apisix.route_id', ctx.routeId);
    push(attrs, 'apisix.route_name', v('route_name'));
    attrs.push('http.route', path);
    name = `${method} ${path}`;
  }
  if (ctx.serviceId !== undefined) {
    attrs.push('apisix.service_id', ctx.serviceId);
    push(attrs, 'apisix.service_name', v('service_name'));
  }
  const source = responseSource(v);
  const status = ctx.response.status;
  attrs.push('apisix.response_source', source, 'http.status_code', status, 'http.response.status_code', status);
  additionalAttributes(p, ctx, attrs);
  return {
    traceId: st.traceId, spanId: st.spanId, parentSpanId: st.parent?.spanId, traceState: st.traceState,
    name, kind: SPAN_KIND.SERVER, start: ctx.startedAt, end, attributes: attrs,
    status: status >= 500 ? STATUS.ERROR : STATUS.UNSET, statusMessage: status >= 500 ? `${source} error: ${status}` : '',
  };
}

/** Every span of a finished request, to the exporter: the server span, its upstream attempts, its phases. */
function exportRequest(p: OtelPrepared, pipeline: Pipeline, ctx: PluginContext, st: RequestState, end: number): void {
  const exporter = exporterOf(pipeline);
  const calls = st.record?.handlerCalls;
  const phases = calls === undefined || calls.length === 0 ? [] : phaseSpans(st, calls);
  // the log phase's handlers ran after the response: the server span covers them when they are shown
  for (const s of phases) if (s.end > end) end = s.end;
  exporter.add(serverSpan(p, ctx, st, end));
  const attempts = st.record?.upstreamAttempts ?? [];
  if (attempts.length > 0) {
    const req = { method: ctx.request.upstreamMethod ?? ctx.request.method, scheme: text(ctx.var('upstream_scheme')) ?? 'http', target: ctx.request.upstreamUri };
    for (const s of upstreamSpans(st, attempts, req)) exporter.add(s);
  }
  for (const s of phases) exporter.add(s);
}

export default definePlugin<OtelConf, OtelPrepared>({
  name: PLUGIN,
  description: 'Traces requests with OpenTelemetry: W3C trace context in and out, spans exported over OTLP/HTTP to a collector.',
  version: 0.1,
  stage: 'authorization',
  priority: 973,
  schema: SCHEMA,
  metadataSchema: METADATA_SCHEMA,
  showsHandlerCalls: true,
  checkMetadata: (md) => checkMetadata(md as OtelMetadata),

  prepare(conf, env) {
    if (conf.additional_attributes !== undefined) checkVariables(conf.additional_attributes, 'additional_attributes');
    const headerNames: string[] = [];
    const headerPrefixes: string[] = [];
    for (const h of conf.additional_header_prefix_attributes ?? []) {
      if (h.length >= 2 && h.endsWith('*')) headerPrefixes.push(h.slice(0, -1).toLowerCase());
      else headerNames.push(h);
    }
    return {
      conf, sampler: samplerOf(conf.sampler), headerNames, headerPrefixes, warnedNoMetadata: false,
      pipeline: env.metadata === undefined ? undefined : pipelineOf(env.metadata as OtelMetadata),
    };
  },

  rewrite(p, ctx) {
    const pipeline = p.pipeline;
    if (pipeline === undefined) {
      if (!p.warnedNoMetadata) {
        p.warnedNoMetadata = true;
        ctx.log.warn({ plugin: PLUGIN }, 'plugin_metadata is required for opentelemetry plugin to working properly');
      }
      return;
    }
    const req = ctx.request;
    const clientState = req.header('tracestate');
    const parent = parseTraceparent(req.header('traceparent'), clientState);
    const traceId = parent?.traceId ?? (pipeline.traceIdFromRequestId ? requestIdTraceId(ctx) : newTraceId());
    const spanId = newSpanId();
    const sampled = p.sampler(traceId, parent?.sampled);
    const traceparent = formatTraceparent(traceId, spanId, sampled);
    req.setHeader('traceparent', traceparent);
    // the caller's tracestate goes on with its trace; a client's without a valid traceparent is dropped
    const traceState = parent?.traceState ?? '';
    // (nothing to remove when the client sent none: an edit costs the upstream request a lookup)
    if (traceState !== '' || clientState !== undefined) req.setHeader('tracestate', traceState === '' ? undefined : traceState);
    if (pipeline.setVariables) {
      ctx.setVar('opentelemetry_context_traceparent', traceparent);
      ctx.setVar('opentelemetry_trace_id', traceId);
      ctx.setVar('opentelemetry_span_id', spanId);
    }
    if (!sampled) {
      ctx.stopHandlerCalls?.();
      return;
    }
    const state: RequestState = { traceId, spanId, traceState, parent, record: ctx.traceRecord?.() };
    ctx.shared.set(STATE, state);
  },

  log(p, ctx) {
    const st = ctx.shared.get(STATE) as RequestState | undefined;
    const pipeline = p.pipeline;
    if (st === undefined || pipeline === undefined) return;
    ctx.shared.delete(STATE);
    const end = performance.now();
    // after the whole log phase, so that the handlers running after this one are in the phase spans
    if (ctx.onFinished !== undefined && st.record?.handlerCalls !== undefined) ctx.onFinished(() => exportRequest(p, pipeline, ctx, st, end));
    else exportRequest(p, pipeline, ctx, st, end);
  },

  destroy: drainSpanExporters,
});
