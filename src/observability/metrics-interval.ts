// What happened between two metrics summaries (`GET /apisix/admin/metrics/summary`):
// request rates, the status mix, latency quantiles per route and plugin cost per phase
// over the interval, from the differences of the cumulative counters and histogram
// buckets. Pure (no Node.js module): the dashboard bundles it for its live charts, and
// the server's digest uses `quantile` from here.

/**
 * The q-quantile (0..1) of a histogram, as Prometheus' histogram_quantile estimates it:
 * linear within the bucket the rank falls in (the first bucket starts at 0); a rank in
 * the +Inf bucket gives the highest finite bound. Null without observations.
 */
export function quantile(bounds: readonly number[], cumulative: readonly number[], q: number): number | null {
  const total = cumulative[cumulative.length - 1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let i = 0;
  while (i < bounds.length && cumulative[i]! < rank) i++;
  if (i >= bounds.length) return bounds[bounds.length - 1] ?? null;
  const lower = i === 0 ? 0 : bounds[i - 1]!;
  const before = i === 0 ? 0 : cumulative[i - 1]!;
  const inBucket = cumulative[i]! - before;
  return inBucket <= 0 ? bounds[i]! : lower + (bounds[i]! - lower) * ((rank - before) / inBucket);
}

/**
 * The q-quantile of the observations made between two states of a cumulative histogram.
 * When `after` is below `before` anywhere the counters were reset (the workers restarted),
 * and `after` alone is the interval.
 */
export function intervalQuantile(bounds: readonly number[], before: readonly number[] | undefined, after: readonly number[], q: number): number | null {
  const reset = before === undefined || before.length !== after.length || after.some((v, i) => v < before[i]!);
  return quantile(bounds, reset ? after : after.map((v, i) => v - before[i]!), q);
}

export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
export type StatusClass = (typeof STATUS_CLASSES)[number];

/** The parts of a summary the interval reads (the Admin API's MetricsSummary has more). */
export interface SummarySnapshot {
  /** ms since the epoch. */
  time: number;
  histograms: { route_latency_ms: { bounds: number[] }; plugin_cost_us: { bounds: number[] } };
  routes: { route: string; requests: Record<StatusClass | 'total', number>; latency_ms: { buckets: number[] } }[];
  plugins: { plugin: string; phase: string; calls: number; mean_us: number | null; buckets: number[] }[];
}

export interface RoutePoint {
  requests_per_s: number;
  /** Request latency over the interval, ms; null when no request finished in it. */
  p50_ms: number | null;
  p99_ms: number | null;
}

export interface PluginPoint {
  calls_per_s: number;
  /** Mean and p99 time of one call over the interval, µs; null without calls. */
  mean_us: number | null;
  p99_us: number | null;
}

/** One point of the live charts: the interval ending at `time`. */
export interface IntervalPoint {
  /** End of the interval, seconds since the epoch (uPlot's x unit). */
  time: number;
  seconds: number;
  requests_per_s: number;
  /** Responses per status class in the interval. */
  status: Record<StatusClass, number>;
  routes: Record<string, RoutePoint>;
  /** Keyed by `plugin/phase`. */
  plugins: Record<string, PluginPoint>;
}

export const pluginPhaseKey = (plugin: string, phase: string): string => `${plugin}/${phase}`;

/** Counter growth, or the whole value after a reset. */
const grown = (before: number | undefined, after: number): number => (before === undefined || after < before ? after : after - before);

/** The interval between two summaries; undefined when `next` is not later than `prev`. */
export function intervalBetween(prev: SummarySnapshot, next: SummarySnapshot): IntervalPoint | undefined {
  const seconds = (next.time - prev.time) / 1000;
  if (!(seconds > 0)) return undefined;
  const perSecond = (n: number): number => Math.round((n / seconds) * 100) / 100;
  const status = Object.fromEntries(STATUS_CLASSES.map((c) => [c, 0])) as Record<StatusClass, number>;
  const routes: Record<string, RoutePoint> = {};
  let total = 0;
  const prevRoutes = new Map(prev.routes.map((r) => [r.route, r]));
  const latencyBounds = next.histograms.route_latency_ms.bounds;
  for (const r of next.routes) {
    const before = prevRoutes.get(r.route);
    const reset = before !== undefined && r.requests.total < before.requests.total;
    const was = reset ? undefined : before;
    const requests = grown(was?.requests.total, r.requests.total);
    total += requests;
    for (const c of STATUS_CLASSES) status[c] += grown(was?.requests[c], r.requests[c]);
    const q = (x: number): number | null => round(intervalQuantile(latencyBounds, was?.latency_ms.buckets, r.latency_ms.buckets, x));
    routes[r.route] = { requests_per_s: perSecond(requests), p50_ms: q(0.5), p99_ms: q(0.99) };
  }
  const plugins: Record<string, PluginPoint> = {};
  const prevPlugins = new Map(prev.plugins.map((p) => [pluginPhaseKey(p.plugin, p.phase), p]));
  const costBounds = next.histograms.plugin_cost_us.bounds;
  for (const p of next.plugins) {
    const key = pluginPhaseKey(p.plugin, p.phase);
    const before = prevPlugins.get(key);
    const was = before !== undefined && p.calls >= before.calls ? before : undefined;
    const calls = grown(was?.calls, p.calls);
    // The summary gives the cumulative mean; mean × calls is the cumulative time.
    const spent = (p.mean_us ?? 0) * p.calls - (was === undefined ? 0 : (was.mean_us ?? 0) * was.calls);
    plugins[key] = {
      calls_per_s: perSecond(calls),
      mean_us: calls > 0 ? round(spent / calls) : null,
      p99_us: round(intervalQuantile(costBounds, was?.buckets, p.buckets, 0.99)),
    };
  }
  return { time: next.time / 1000, seconds, requests_per_s: perSecond(total), status, routes, plugins };
}

/** `history` with `point` appended, keeping the last `limit` points. */
export function appendBounded<T>(history: readonly T[], point: T, limit: number): T[] {
  const out = [...history, point];
  return out.length > limit ? out.slice(out.length - limit) : out;
}

function round(v: number | null): number | null {
  return v === null ? null : Math.round(v * 1000) / 1000;
}
