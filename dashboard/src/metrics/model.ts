// The live metrics' data: summaries polled from the Admin API, turned into a bounded
// history of interval points by the shared pure module (src/observability/metrics-interval.ts,
// unit-tested under node:test), and the series the charts draw from it.
import { api } from '../api.js';
import { t } from '../i18n/index.js';
import {
  appendBounded, intervalBetween, STATUS_CLASSES, type IntervalPoint, type StatusClass, type SummarySnapshot,
} from '../../../src/observability/metrics-interval.js';
import type { Series } from './chart.js';

export const POLL_MS = 3000;
export const HISTORY_LIMIT = 100;

export interface WorkerStatus { index: number; pid?: number; revision: number; listening: boolean; acceptBlocked?: string }
export interface ClusterNode {
  id: string; hostname: string; version: string; store: string; applied_revision: number;
  boot_time: string; updated_at: string; lag: number; self: boolean;
}

/** GET /apisix/admin/metrics/summary (src/admin-api/metrics-summary.ts). */
export interface MetricsSummary extends SummarySnapshot {
  routes: (SummarySnapshot['routes'][number] & { latency_ms: { p50: number | null; p99: number | null } })[];
  plugins: (SummarySnapshot['plugins'][number] & { p99_us: number | null })[];
  node: { ready: boolean; revision: number; workers: WorkerStatus[]; problems: string[] };
  cluster: { nodes: ClusterNode[] } | { error: string } | null;
}

export const loadSummary = (): Promise<MetricsSummary> => api<MetricsSummary>('GET', '/metrics/summary');

export interface MetricsState {
  last?: MetricsSummary;
  history: IntervalPoint[];
}

/** The state after one more summary: a point for the interval since the previous one. */
export function advance(state: MetricsState, next: MetricsSummary): MetricsState {
  const point = state.last === undefined ? undefined : intervalBetween(state.last, next);
  if (point === undefined) return { last: next, history: state.history };
  return { last: next, history: appendBounded(state.history, point, HISTORY_LIMIT) };
}

/** Every key `pick` names in any point, sorted. */
function keysOf(history: IntervalPoint[], pick: (p: IntervalPoint) => Record<string, unknown>): string[] {
  return [...new Set(history.flatMap((p) => Object.keys(pick(p))))].sort();
}

/** The prometheus plugin labels requests no route matched with ''. */
export const routeLabel = (route: string): string => (route === '' ? t('metrics.noRoute') : route);

export function requestSeries(history: IntervalPoint[], totalLabel: string): Series[] {
  return [
    { label: totalLabel, values: history.map((p) => p.requests_per_s) },
    ...keysOf(history, (p) => p.routes).map((r) => ({ label: routeLabel(r), values: history.map((p) => p.routes[r]?.requests_per_s ?? 0) })),
  ];
}

const STATUS_COLORS: Record<StatusClass, string> = { '1xx': '#475569', '2xx': '#1c7c43', '3xx': '#2457d6', '4xx': '#c2410c', '5xx': '#b42318' };

export function statusSeries(history: IntervalPoint[]): Series[] {
  return STATUS_CLASSES.filter((c) => c !== '1xx' || history.some((p) => p.status[c] > 0))
    .map((c) => ({ label: c, color: STATUS_COLORS[c], values: history.map((p) => p.status[c] / p.seconds) }));
}

export function latencySeries(history: IntervalPoint[]): Series[] {
  return keysOf(history, (p) => p.routes).flatMap((r) => (['p50_ms', 'p99_ms'] as const).map((q) => ({
    label: `${routeLabel(r)} ${q.slice(0, 3)}`,
    values: history.map((p) => p.routes[r]?.[q] ?? null),
  })));
}

export function pluginCostSeries(history: IntervalPoint[]): Series[] {
  return keysOf(history, (p) => p.plugins).map((k) => ({ label: k, values: history.map((p) => p.plugins[k]?.mean_us ?? null) }));
}
