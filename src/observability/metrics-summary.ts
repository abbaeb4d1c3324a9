// A JSON digest of the node's merged metrics for live charts (the Admin API's
// `GET /apisix/admin/metrics/summary`): per route, requests by status class and request
// latency quantiles; per plugin and phase, call count and cost. Every count is cumulative
// since the workers started, as in the Prometheus export: a client computes rates, and
// quantiles over an interval, from the difference of two summaries (`buckets` are given
// for that). Read from the merged Prometheus text (prom-text.ts).
import { METRIC_NAME as PLUGIN_COST } from './plugin-cost.js';
import { quantile } from './metrics-interval.js';
import { parseSamples, type Sample } from './prom-text.js';

// The digest's quantiles are the ones the dashboard computes over intervals.
export { quantile };

/** Recorded by the prometheus plugin, so only routes it runs on (directly or by a global rule) appear. */
const STATUS = 'apisix_http_status';
const LATENCY = 'apisix_http_latency';
/** apisix_http_latency's `type` covering the whole request (first byte to end of response). */
const REQUEST_LATENCY = 'request';

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
type StatusClass = (typeof STATUS_CLASSES)[number];

/** A histogram's state: cumulative counts per upper bound (the last is +Inf), as exported. */
export interface HistogramView {
  count: number;
  sum: number;
  /** Cumulative counts, one per bound of the summary's `histograms.<name>.bounds`, then +Inf. */
  buckets: number[];
}

export interface RouteSummary {
  /** The prometheus plugin's `route` label: the route id (its name with `prefer_name`); '' for requests no route matched. */
  route: string;
  requests: Record<StatusClass, number> & { total: number };
  /** apisix_http_latency{type="request"}, milliseconds; p50/p99 are null before the first request. */
  latency_ms: HistogramView & { mean: number | null; p50: number | null; p99: number | null };
}

export interface PluginPhaseSummary {
  plugin: string;
  phase: string;
  /** Estimated: the runner times one request in `prometheus.plugin_cost_sample` and weighs it accordingly. */
  calls: number;
  /** gatehouse_plugin_phase_duration_seconds in microseconds. */
  mean_us: number | null;
  p99_us: number | null;
  buckets: number[];
}

export interface MetricsDigest {
  histograms: {
    route_latency_ms: { metric: string; bounds: number[] };
    plugin_cost_us: { metric: string; bounds: number[] };
  };
  routes: RouteSummary[];
  plugins: PluginPhaseSummary[];
}

/** The sample names the digest reads. */
const WANTED = new Set([
  STATUS, `${LATENCY}_bucket`, `${LATENCY}_sum`, `${LATENCY}_count`,
  `${PLUGIN_COST}_bucket`, `${PLUGIN_COST}_sum`, `${PLUGIN_COST}_count`,
]);

export function digestMetrics(text: string): MetricsDigest {
  const samples = parseSamples(text, WANTED);
  const routeLatency = histograms(samples, LATENCY, (l) => (l.type === REQUEST_LATENCY ? l.route ?? '' : undefined));
  const pluginCost = histograms(samples, PLUGIN_COST, (l) => seriesKey(l.plugin ?? '', l.phase ?? ''));

  const routes = new Map<string, RouteSummary>();
  const routeOf = (route: string): RouteSummary => {
    let r = routes.get(route);
    if (r === undefined) {
      r = { route, requests: { total: 0, '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 }, latency_ms: emptyLatency(routeLatency.bounds) };
      routes.set(route, r);
    }
    return r;
  };
  for (const s of samples.get(STATUS) ?? []) {
    const r = routeOf(s.labels.route ?? '');
    r.requests.total += s.value;
    const cls = `${(s.labels.code ?? '')[0] ?? ''}xx` as StatusClass;
    if (STATUS_CLASSES.includes(cls)) r.requests[cls] += s.value;
  }
  for (const [route, h] of routeLatency.series) {
    const view = withQuantiles(h, routeLatency.bounds, 1);
    routeOf(route).latency_ms = { ...h, mean: view.mean, p50: view.p50, p99: view.p99 };
  }

  const plugins: PluginPhaseSummary[] = [];
  for (const [key, h] of pluginCost.series) {
    const [plugin, phase] = splitKey(key);
    const view = withQuantiles(h, pluginCost.bounds, 1e6);
    plugins.push({ plugin, phase, calls: h.count, mean_us: view.mean, p99_us: view.p99, buckets: h.buckets });
  }

  return {
    histograms: {
      route_latency_ms: { metric: `${LATENCY}{type="${REQUEST_LATENCY}"}`, bounds: routeLatency.bounds },
      plugin_cost_us: { metric: PLUGIN_COST, bounds: pluginCost.bounds.map((b) => round(b * 1e6)) },
    },
    routes: [...routes.values()].sort((a, b) => a.route.localeCompare(b.route)),
    plugins: plugins.sort((a, b) => a.plugin.localeCompare(b.plugin) || a.phase.localeCompare(b.phase)),
  };
}

interface Histograms {
  /** Finite upper bounds, ascending. */
  bounds: number[];
  series: Map<string, HistogramView>;
}

/**
 * Sums the `<name>_bucket/_sum/_count` samples into one histogram per key (`keyOf` of the
 * labels; undefined skips the sample), across whatever other labels they carry.
 */
function histograms(samples: Map<string, Sample[]>, name: string, keyOf: (labels: Record<string, string>) => string | undefined): Histograms {
  const bucketSamples = samples.get(`${name}_bucket`) ?? [];
  const bounds = [...new Set(bucketSamples.map((s) => s.labels.le).filter((le) => le !== undefined && le !== '+Inf').map(Number))]
    .sort((a, b) => a - b);
  const slot = new Map(bounds.map((b, i) => [b, i]));
  const series = new Map<string, HistogramView>();
  const of = (key: string): HistogramView => {
    let h = series.get(key);
    if (h === undefined) series.set(key, (h = { count: 0, sum: 0, buckets: new Array<number>(bounds.length + 1).fill(0) }));
    return h;
  };
  for (const s of bucketSamples) {
    const key = keyOf(s.labels);
    if (key === undefined) continue;
    const i = s.labels.le === '+Inf' ? bounds.length : slot.get(Number(s.labels.le));
    if (i !== undefined) of(key).buckets[i]! += s.value;
  }
  for (const s of samples.get(`${name}_sum`) ?? []) {
    const key = keyOf(s.labels);
    if (key !== undefined) of(key).sum += s.value;
  }
  for (const s of samples.get(`${name}_count`) ?? []) {
    const key = keyOf(s.labels);
    if (key !== undefined) of(key).count += s.value;
  }
  return { bounds, series };
}

/** Mean, p50 and p99 of `h` in the histogram's unit times `scale`. */
function withQuantiles(h: HistogramView, bounds: readonly number[], scale: number): { mean: number | null; p50: number | null; p99: number | null } {
  const q = (x: number): number | null => {
    const v = quantile(bounds, h.buckets, x);
    return v === null ? null : round(v * scale);
  };
  return { mean: h.count > 0 ? round((h.sum / h.count) * scale) : null, p50: q(0.5), p99: q(0.99) };
}

function emptyLatency(bounds: readonly number[]): RouteSummary['latency_ms'] {
  return { count: 0, sum: 0, buckets: new Array<number>(bounds.length + 1).fill(0), mean: null, p50: null, p99: null };
}

const seriesKey = (a: string, b: string): string => `${a}\u0000${b}`;
const splitKey = (key: string): [string, string] => {
  const i = key.indexOf('\u0000');
  return [key.slice(0, i), key.slice(i + 1)];
};

/** Three decimals: enough for ms and µs, and a readable answer. */
const round = (v: number): number => Math.round(v * 1000) / 1000;
