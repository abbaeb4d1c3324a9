import type { Metric } from 'prom-client';
import { metricsRegistry } from './metrics.js';

// `gatehouse_plugin_phase_duration_seconds{plugin, phase}`: how long each plugin's handler
// took in each phase, timed by the runner with performance.now() around its calls.
//
// Sampled: the runner times the handlers of one request in `prometheus.plugin_cost_sample`
// (8 by default; 1 times every request), and each timed call is recorded with that
// weight, so `_count` and `_sum` estimate all calls and all time (rates and averages
// read as if every call were timed). Timing every call cost ~0.6 µs per request on a
// 5-plugin route, about 6 % of what the plugins cost in all; sampled, it is ~0.1 µs.
//
// Not a prom-client Histogram: its `labels(...).observe()` builds a labels object and a
// hash string on every call (≈380 ns measured, against ≈15 ns here), which would make the
// measurement cost more than many of the handlers it measures. Each (plugin, phase) series
// is a plain counter array, found through the instance (no lookup per call) and
// rendered in prom-client's format only when scraped.

export const METRIC_NAME = 'gatehouse_plugin_phase_duration_seconds';

/** Phases the runner times, with their index into a PluginCost. */
export const COST_PHASES = ['preflight', 'rewrite', 'access', 'before_proxy', 'header_filter', 'body_filter', 'log'] as const;
export type CostPhase = (typeof COST_PHASES)[number];
export const PHASE_INDEX: Readonly<Record<CostPhase, number>> = Object.freeze(
  Object.fromEntries(COST_PHASES.map((p, i) => [p, i])) as Record<CostPhase, number>);

/** Upper bounds in seconds: handlers mostly take microseconds; an awaited network call takes milliseconds. */
export const BUCKETS: readonly number[] = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
const NB = BUCKETS.length;
const BOUNDS_MS = Float64Array.from(BUCKETS, (b) => b * 1000);

class Series {
  /** counts[i]: observations in (BUCKETS[i-1], BUCKETS[i]]; counts[NB]: above the last bound. */
  readonly counts = new Float64Array(NB + 1);
  sumMs = 0;
  count = 0;
}

/** The cost series of one plugin name (shared by its instances, and across reloads of its code). */
export class PluginCost {
  private readonly series: (Series | undefined)[] = new Array<Series | undefined>(COST_PHASES.length);

  constructor(readonly plugin: string) {}

  /**
   * Records one handler call of `ms` milliseconds in phase `phase` (an index of
   * COST_PHASES), standing for `weight` calls (the sampling interval).
   */
  observe(phase: number, ms: number, weight = 1): void {
    let s = this.series[phase];
    if (s === undefined) s = this.series[phase] = new Series();
    let b = 0;
    while (b < NB && ms > BOUNDS_MS[b]!) b++;
    s.counts[b]! += weight;
    s.sumMs += ms * weight;
    s.count += weight;
  }

  /** Appends this plugin's series in prom-client's JSON shape (cumulative buckets, `+Inf`, `_sum`, `_count`). */
  collect(out: MetricValue[]): void {
    for (let p = 0; p < COST_PHASES.length; p++) {
      const s = this.series[p];
      if (s === undefined) continue;
      const phase = COST_PHASES[p]!;
      let acc = 0;
      for (let b = 0; b < NB; b++) {
        acc += s.counts[b]!;
        out.push({ labels: { le: BUCKETS[b]!, plugin: this.plugin, phase }, value: acc, metricName: `${METRIC_NAME}_bucket` });
      }
      out.push({ labels: { le: '+Inf', plugin: this.plugin, phase }, value: s.count, metricName: `${METRIC_NAME}_bucket` });
      out.push({ labels: { plugin: this.plugin, phase }, value: s.sumMs / 1000, metricName: `${METRIC_NAME}_sum` });
      out.push({ labels: { plugin: this.plugin, phase }, value: s.count, metricName: `${METRIC_NAME}_count` });
    }
  }

  reset(): void {
    this.series.fill(undefined);
  }
}

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

const costs = new Map<string, PluginCost>();

/** The cost series of `plugin` (created on first use; the chain compiler puts it on each instance). */
export function pluginCost(plugin: string): PluginCost {
  let c = costs.get(plugin);
  if (c === undefined) {
    c = new PluginCost(plugin);
    costs.set(plugin, c);
  }
  return c;
}

const HELP = 'Time spent in each plugin handler per phase (seconds; async handlers until they settle)';

// The shape a prom-client Registry and AggregatorRegistry.aggregate expect of a metric.
const metric = {
  name: METRIC_NAME,
  help: HELP,
  type: 'histogram',
  aggregator: 'sum',
  get(): { name: string; help: string; type: string; aggregator: string; values: MetricValue[] } {
    const values: MetricValue[] = [];
    for (const c of costs.values()) c.collect(values);
    return { name: METRIC_NAME, help: HELP, type: 'histogram', aggregator: 'sum', values };
  },
  reset(): void {
    for (const c of costs.values()) c.reset();
  },
};

metricsRegistry.registerMetric(metric as unknown as Metric);
