// `GET /apisix/admin/metrics/summary`: a JSON snapshot of this node for live charts —
// per route requests by status class and latency quantiles, per plugin and phase call
// count and cost (src/observability/metrics-summary.ts), and the node's health: its
// workers and the revision each applied, the store revision, and the cluster's nodes
// when the store is shared. Built from the same merged worker metrics the Prometheus
// export serves (one collection shared by both), whether or not the export is enabled.
//
// Counters are cumulative (`counters: "cumulative"`): a client takes two summaries and
// divides the difference by the difference of their `time`. A summary is reused for
// CACHE_MS, and calls arriving while one is collected share it, so polling dashboards
// cost the workers one collection per second at most.
import type { ClusterNodeView } from '../cluster/membership.js';
import { digestMetrics, type MetricsDigest } from '../observability/metrics-summary.js';
import type { ClusterScrape } from '../observability/export-server.js';
import { AdminError } from './errors.js';
import { readiness, type Readiness, type StatusSource } from './status-server.js';
import type { AdminRouteHandler } from './server.js';

const CACHE_MS = 1000;

export interface MetricsSummaryDeps {
  scrape: ClusterScrape;
  status: StatusSource;
  /** The nodes sharing the store; absent when the store is this node's own. */
  clusterNodes?: () => Promise<ClusterNodeView[]>;
  now?: () => number;
}

export type MetricsSummary = MetricsDigest & {
  /** When the metrics were collected (ms since the epoch). */
  time: number;
  counters: 'cumulative';
  node: Readiness;
  /** Null when the store is not shared; `error` when the node directory cannot be read. */
  cluster: { nodes: ClusterNodeView[] } | { error: string } | null;
};

export function metricsSummaryRoute(deps: MetricsSummaryDeps): AdminRouteHandler {
  const now = deps.now ?? Date.now;
  let cached: MetricsSummary | undefined;
  let collecting: Promise<MetricsSummary> | undefined;

  const collect = async (): Promise<MetricsSummary> => {
    let text: string;
    try {
      text = await deps.scrape();
    } catch (err) {
      throw new AdminError(503, `the workers' metrics cannot be collected: ${(err as Error).message}`);
    }
    const time = now();
    const cluster = deps.clusterNodes === undefined ? null
      : await deps.clusterNodes().then((nodes) => ({ nodes }), (err: Error) => ({ error: `the cluster's node directory cannot be read: ${err.message}` }));
    return { time, counters: 'cumulative', ...digestMetrics(text), node: readiness(deps.status), cluster };
  };

  return async (req) => {
    if (req.segments.length !== 1 || req.segments[0] !== 'summary') throw new AdminError(404, 'not found (try /apisix/admin/metrics/summary)');
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new AdminError(405, `not supported \`${req.method}\` method for the metrics summary`);
    if (cached === undefined || now() - cached.time >= CACHE_MS) {
      collecting ??= collect().finally(() => { collecting = undefined; });
      cached = await collecting;
    }
    return { status: 200, body: cached };
  };
}
