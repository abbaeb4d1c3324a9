import { AggregatorRegistry, Counter, Gauge, Histogram, Registry } from 'prom-client';

// One registry per process. Workers record into it; the primary's export asks every
// worker for it (prom-client's cluster protocol over the IPC channel) and merges them,
// so counters and histograms read as one node however many workers served the traffic.

/** This process's metrics. */
export const metricsRegistry = new Registry();

let answering = false;

/**
 * Makes this worker answer the primary's scrape requests with `metricsRegistry`.
 * prom-client installs its worker-side IPC listener when an AggregatorRegistry is
 * constructed; call it before the worker says hello, so no scrape goes unanswered.
 */
export function answerClusterScrapes(): void {
  if (answering) return;
  answering = true;
  AggregatorRegistry.setRegistries([metricsRegistry]);
  new AggregatorRegistry();
}

// Get-or-create: a plugin module re-imported by a plugin reload asks for the same
// metrics again, and a registry refuses a second metric with the same name.

export function counter<T extends string>(name: string, help: string, labelNames: readonly T[]): Counter<T> {
  const existing = metricsRegistry.getSingleMetric(name);
  if (existing !== undefined) return existing as Counter<T>;
  return new Counter<T>({ name, help, labelNames, registers: [metricsRegistry] });
}

export function histogram<T extends string>(name: string, help: string, labelNames: readonly T[], buckets: number[]): Histogram<T> {
  const existing = metricsRegistry.getSingleMetric(name);
  if (existing !== undefined) return existing as Histogram<T>;
  return new Histogram<T>({ name, help, labelNames, buckets, registers: [metricsRegistry] });
}

export function gauge<T extends string>(name: string, help: string, labelNames: readonly T[],
  collect?: (this: Gauge<T>) => void | Promise<void>): Gauge<T> {
  const existing = metricsRegistry.getSingleMetric(name);
  if (existing !== undefined) return existing as Gauge<T>;
  return new Gauge<T>({ name, help, labelNames, registers: [metricsRegistry], ...(collect !== undefined ? { collect } : {}) });
}
