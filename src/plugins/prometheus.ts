import type { PluginContext } from '../contracts/plugin.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import {
  fastCounter, fastHistogram, type CounterSeries, type HistogramSeries, type LabelledCounter, type LabelledHistogram,
} from '../observability/fast-metrics.js';
import { counter } from '../observability/metrics.js';

// APISIX's prometheus plugin (apisix/plugins/prometheus/exporter.lua): in the log phase,
// after the response, it counts the request in each worker's registry under APISIX's
// metric names and labels; the primary's export (src/observability/export-server.ts)
// merges the workers. `run_policy: prefer_route`: on a global rule it gives way to the
// route's own instance, so a request is never counted twice.
//
// Labels: `route`/`service` are ids (names with `prefer_name`), `consumer` the username,
// `node` the upstream node's IP (APISIX's balancer_ip), `matched_uri`/`matched_host` the
// route's patterns. Latencies are milliseconds (APISIX's buckets): `request` from the first
// byte to the end of the response, `upstream` the last upstream attempt, `apisix` the rest.

export interface PrometheusConf {
  prefer_name: boolean;
}

/** Labels plugin metadata may blank out (fewer series on a node with many routes or consumers). */
const OPTIONAL_LABELS = ['route', 'matched_uri', 'matched_host', 'service', 'consumer', 'node'] as const;
type OptionalLabel = (typeof OPTIONAL_LABELS)[number];

export interface PrometheusPrepared {
  preferName: boolean;
  keep: Readonly<Record<OptionalLabel, boolean>>;
  /** The label set and series of the last request this instance counted (see lastSeries). */
  last: LastSeries | undefined;
}

/**
 * One instance mostly counts the same label set again and again (its route, the same
 * consumer and node): the last set's series are kept with their labels, so a repeat
 * costs a few string comparisons instead of seven map lookups.
 */
interface LastSeries {
  route: string; service: string; consumer: string; node: string; matchedUri: string; matchedHost: string;
  code: number; epoch: number;
  children: Children;
  status: CounterSeries;
}

/** APISIX's DEFAULT_BUCKETS, in milliseconds. */
export const LATENCY_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000];

interface Metrics {
  status: LabelledCounter;
  latency: LabelledHistogram;
  bandwidth: LabelledCounter;
}

let metrics: Metrics | undefined;

/** Created on first use, so a node that never enables the plugin exports none of them. */
function metricsOf(): Metrics {
  return metrics ??= {
    status: fastCounter('apisix_http_status', 'HTTP status codes per service in APISIX',
      ['code', 'route', 'matched_uri', 'matched_host', 'service', 'consumer', 'node']),
    latency: fastHistogram('apisix_http_latency', 'HTTP request latency in milliseconds per service in APISIX',
      ['type', 'route', 'service', 'consumer', 'node'], LATENCY_BUCKETS),
    bandwidth: fastCounter('apisix_bandwidth', 'Total bandwidth in bytes consumed per service in APISIX',
      ['type', 'route', 'service', 'consumer', 'node']),
  };
}

function str(v: unknown): string {
  return v === undefined || v === null ? '' : String(v);
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function routeLabel(p: PrometheusPrepared, ctx: PluginContext): string {
  if (!p.keep.route) return '';
  if (p.preferName) {
    const name = ctx.var('route_name');
    if (typeof name === 'string' && name !== '') return name;
  }
  return ctx.routeId ?? '';
}

function serviceLabel(p: PrometheusPrepared, ctx: PluginContext): string {
  if (!p.keep.service) return '';
  if (p.preferName) {
    const name = ctx.var('service_name');
    if (typeof name === 'string' && name !== '') return name;
  }
  return ctx.serviceId ?? '';
}

/** The series of one (route, service, consumer, node) label set. */
interface Children {
  /** code → matched_uri → matched_host → series. */
  status: Map<number, Map<string, Map<string, CounterSeries>>>;
  request: HistogramSeries;
  upstream: HistogramSeries;
  apisix: HistogramSeries;
  ingress: CounterSeries;
  egress: CounterSeries;
}

// A request records up to 8 series. They are found through nested maps keyed by the
// label values as they come (no key string built per request); bounded: cleared when
// it grows past what any real route table produces, and whenever the registry was
// reset (its series are new objects then).
type Level<T> = Map<string, T>;
let childCache: Level<Level<Level<Level<Children>>>> = new Map();
let cachedSets = 0;
let cacheEpoch = -1;
const CHILD_CACHE_MAX = 20_000;

function level<T>(m: Map<string, Map<string, T>>, key: string): Map<string, T> {
  let v = m.get(key);
  if (v === undefined) m.set(key, (v = new Map()));
  return v;
}

function childrenFor(m: Metrics, route: string, service: string, consumer: string, node: string): Children {
  const epoch = m.status.epoch + m.latency.epoch + m.bandwidth.epoch;
  if (epoch !== cacheEpoch || cachedSets >= CHILD_CACHE_MAX) {
    childCache = new Map();
    cachedSets = 0;
    cacheEpoch = epoch;
  }
  const byNode = level(level(level(childCache, route), service), consumer);
  let c = byNode.get(node);
  if (c === undefined) {
    cachedSets++;
    c = {
      status: new Map(),
      request: m.latency.labels('request', route, service, consumer, node),
      upstream: m.latency.labels('upstream', route, service, consumer, node),
      apisix: m.latency.labels('apisix', route, service, consumer, node),
      ingress: m.bandwidth.labels('ingress', route, service, consumer, node),
      egress: m.bandwidth.labels('egress', route, service, consumer, node),
    };
    byNode.set(node, c);
  }
  return c;
}

function statusSeries(m: Metrics, c: Children, code: number, matchedUri: string, matchedHost: string,
  route: string, service: string, consumer: string, node: string): CounterSeries {
  let byUri = c.status.get(code);
  if (byUri === undefined) c.status.set(code, (byUri = new Map()));
  let byHost = byUri.get(matchedUri);
  if (byHost === undefined) byUri.set(matchedUri, (byHost = new Map()));
  let s = byHost.get(matchedHost);
  if (s === undefined) {
    s = m.status.labels(String(code), route, matchedUri, matchedHost, service, consumer, node);
    byHost.set(matchedHost, s);
  }
  return s;
}

/** APISIX's stream metrics (exporter.lua init_stream_metrics), created on a stream route's first session. */
function streamMetricsOf() {
  return {
    connections: counter('apisix_stream_connection_total', 'Total number of connections handled per stream route in APISIX', ['route']),
    status: counter('apisix_stream_status', 'Stream sessions per termination status in APISIX', ['code', 'listen_addr', 'node']),
    bandwidth: counter('apisix_stream_bandwidth', 'Total bandwidth in bytes proxied by the stream subsystem in APISIX',
      ['listen_addr', 'type', 'side']),
  };
}
let streamMetrics: ReturnType<typeof streamMetricsOf> | undefined;

/** gRPC calls by their grpc-status (APISIX has no such metric; apisix_http_status says 200 for nearly every gRPC call). */
let grpcStatus: ReturnType<typeof counter<'code' | 'route' | 'service'>> | undefined;

export default definePlugin<PrometheusConf, PrometheusPrepared>({
  name: 'prometheus',
  description: 'Records request metrics (status, latency, bandwidth) for the Prometheus exposition format.',
  version: 0.2,
  stage: 'statistics',
  priority: 500,
  runPolicy: 'prefer_route',
  schema: {
    type: 'object',
    properties: {
      prefer_name: { type: 'boolean', default: false },
    },
    // an unknown field is refused by name, not ignored
    additionalProperties: false,
  },
  metadataSchema: {
    type: 'object',
    properties: {
      disabled_labels: {
        type: 'array',
        description: 'labels exported as "" on apisix_http_status, apisix_http_latency and apisix_bandwidth',
        items: { type: 'string', enum: [...OPTIONAL_LABELS] },
        uniqueItems: true,
      },
    },
    additionalProperties: false,
  },

  prepare(conf, env) {
    const disabled = new Set((env.metadata?.disabled_labels as string[] | undefined) ?? []);
    const keep = Object.fromEntries(OPTIONAL_LABELS.map((l) => [l, !disabled.has(l)])) as Record<OptionalLabel, boolean>;
    return { preferName: conf.prefer_name === true, keep, last: undefined };
  },

  log(p, ctx) {
    const m = metricsOf();
    const route = routeLabel(p, ctx);
    const service = serviceLabel(p, ctx);
    const consumer = p.keep.consumer ? ctx.consumer?.username ?? '' : '';
    const node = p.keep.node ? str(ctx.var('balancer_ip')) : '';
    const matchedUri = p.keep.matched_uri ? str(ctx.var('matched_uri')) : '';
    const matchedHost = p.keep.matched_host ? str(ctx.var('matched_host')) : '';

    const code = ctx.response.status;
    const epoch = m.status.epoch + m.latency.epoch + m.bandwidth.epoch;
    let last = p.last;
    if (last === undefined || last.code !== code || last.epoch !== epoch || last.route !== route || last.service !== service
      || last.consumer !== consumer || last.node !== node || last.matchedUri !== matchedUri || last.matchedHost !== matchedHost) {
      const children = childrenFor(m, route, service, consumer, node);
      last = p.last = {
        route, service, consumer, node, matchedUri, matchedHost, code, epoch, children,
        status: statusSeries(m, children, code, matchedUri, matchedHost, route, service, consumer, node),
      };
    }
    const c = last.children;
    last.status.inc();

    const total = performance.now() - ctx.startedAt;
    c.request.observe(total);
    const upstreamSeconds = num(ctx.var('upstream_response_time'));
    let own = total;
    if (upstreamSeconds !== undefined) {
      const upstream = upstreamSeconds * 1000;
      c.upstream.observe(upstream);
      own = Math.max(0, total - upstream);
    }
    c.apisix.observe(own);

    const ingress = num(ctx.var('request_length'));
    if (ingress !== undefined) c.ingress.inc(ingress);
    const egress = num(ctx.var('bytes_sent'));
    if (egress !== undefined) c.egress.inc(egress);

    const grpc = ctx.var('grpc_status');
    if (grpc !== undefined && grpc !== null) {
      grpcStatus ??= counter('gatehouse_grpc_status_total', 'gRPC calls per grpc-status (from the upstream, or the gateway\'s own answer)', ['code', 'route', 'service']);
      grpcStatus.inc({ code: str(grpc), route, service });
    }
  },

  // Stream routes: counted when the connection or UDP session ends. Bytes are the
  // client side's (`bytes_received` from the client is upstream egress's mirror).
  stream: {
    log(_p, session) {
      const m = streamMetrics ??= streamMetricsOf();
      m.connections.inc({ route: session.routeId });
      const listen = `${str(session.var('server_addr'))}:${str(session.var('server_port'))}`;
      m.status.inc({ code: str(session.var('status')), listen_addr: listen, node: str(session.var('upstream_addr')) });
      const received = num(session.var('bytes_received'));
      const sent = num(session.var('bytes_sent'));
      if (received !== undefined) m.bandwidth.inc({ listen_addr: listen, type: 'ingress', side: 'downstream' }, received);
      if (sent !== undefined) m.bandwidth.inc({ listen_addr: listen, type: 'egress', side: 'downstream' }, sent);
    },
  },
});
