import type { Metric } from 'prom-client';
import { metricsRegistry } from './metrics.js';

// Labelled counters and histograms for per-request recording (the prometheus plugin's
// series). prom-client's `labels(...)` children re-hash their labels object on every
// `inc`/`observe` (and validate it, and stamp an exemplar time); here a series is a
// plain object the caller keeps, so recording is a few field updates. The series are
// rendered in prom-client's JSON shape only when scraped, through the same registry, so
// the primary's cluster aggregation sums them like any other metric.
//
// Label values are given in the order of `labelNames`; exported labels keep that order
// (`le` first on histogram buckets, as prom-client writes them).

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

interface MetricJson {
  name: string;
  help: string;
  type: string;
  aggregator: string;
  values: MetricValue[];
}

function labelsOf(names: readonly string[], values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < names.length; i++) out[names[i]!] = values[i] ?? '';
  return out;
}

/** One series of a LabelledCounter. */
export class CounterSeries {
  value = 0;
  /** Exported once incremented (as prom-client: a series exists from its first `inc`). */
  used = false;
  constructor(readonly labelValues: readonly string[]) {}
  inc(by = 1): void {
    this.value += by;
    this.used = true;
  }
}

/** One series of a LabelledHistogram. */
export class HistogramSeries {
  /** counts[i]: observations in (bounds[i-1], bounds[i]]; the last slot: above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(readonly labelValues: readonly string[], private readonly bounds: Float64Array) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(v: number): void {
    const bounds = this.bounds;
    let b = 0;
    while (b < bounds.length && v > bounds[b]!) b++;
    this.counts[b]!++;
    this.sum += v;
    this.count++;
  }
}

/** Series by their label values (joined: looked up when a caller's own cache misses, not per request). */
abstract class Labelled<S extends { labelValues: readonly string[] }> {
  protected readonly series = new Map<string, S>();
  readonly aggregator = 'sum';
  /** Counts resets: series handed out before one are no longer exported. */
  epoch = 0;
  constructor(readonly name: string, readonly help: string, readonly labelNames: readonly string[]) {}

  /** The series of these label values (in `labelNames` order), created on first use. */
  labels(...values: string[]): S {
    const key = values.join('\u0000');
    let s = this.series.get(key);
    if (s === undefined) {
      s = this.create(values);
      this.series.set(key, s);
    }
    return s;
  }

  protected abstract create(values: readonly string[]): S;
  abstract get(): MetricJson;

  reset(): void {
    this.series.clear();
    this.epoch++;
  }

  /** Series held (tests). */
  get size(): number {
    return this.series.size;
  }
}

export class LabelledCounter extends Labelled<CounterSeries> {
  readonly type = 'counter';
  protected create(values: readonly string[]): CounterSeries {
    return new CounterSeries(values);
  }
  get(): MetricJson {
    const values: MetricValue[] = [];
    for (const s of this.series.values()) if (s.used) values.push({ labels: labelsOf(this.labelNames, s.labelValues), value: s.value });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

export class LabelledHistogram extends Labelled<HistogramSeries> {
  readonly type = 'histogram';
  private readonly bounds: Float64Array;
  constructor(name: string, help: string, labelNames: readonly string[], readonly buckets: readonly number[]) {
    super(name, help, labelNames);
    this.bounds = Float64Array.from(buckets);
  }
  protected create(values: readonly string[]): HistogramSeries {
    return new HistogramSeries(values, this.bounds);
  }
  get(): MetricJson {
    const values: MetricValue[] = [];
    const n = this.buckets.length;
    for (const s of this.series.values()) {
      if (s.count === 0) continue; // exported from its first observation
      const labels = labelsOf(this.labelNames, s.labelValues);
      let acc = 0;
      for (let b = 0; b < n; b++) {
        acc += s.counts[b]!;
        values.push({ labels: { le: this.buckets[b]!, ...labels }, value: acc, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { le: '+Inf', ...labels }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

// Get-or-create, as metrics.ts: a plugin module re-imported by a plugin reload asks again.

export function fastCounter(name: string, help: string, labelNames: readonly string[]): LabelledCounter {
  const existing = metricsRegistry.getSingleMetric(name) as unknown;
  if (existing instanceof LabelledCounter) return existing;
  const c = new LabelledCounter(name, help, labelNames);
  metricsRegistry.registerMetric(c as unknown as Metric);
  return c;
}

export function fastHistogram(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]): LabelledHistogram {
  const existing = metricsRegistry.getSingleMetric(name) as unknown;
  if (existing instanceof LabelledHistogram) return existing;
  const h = new LabelledHistogram(name, help, labelNames, buckets);
  metricsRegistry.registerMetric(h as unknown as Metric);
  return h;
}
