import type { BalancerNode } from '../../contracts/balancer.js';
import type { TraceRecorder } from '../../contracts/trace-record.js';

/**
 * An upstream attempt that began at `start` has ended: into the request's trace record,
 * when a tracing plugin keeps one (otherwise nothing is built). `status`: the node's answer;
 * `err`: why it failed (its code: ECONNREFUSED, GH_UPSTREAM_READ_TIMEOUT…).
 */
export function recordAttempt(trace: TraceRecorder | undefined, node: BalancerNode, start: number, status: number | undefined, err?: unknown): void {
  if (trace === undefined) return;
  const error = err === undefined ? undefined : (err as { code?: string }).code ?? (err as Error).name ?? 'Error';
  trace.upstreamAttempt({ host: node.host, port: node.port, start, end: performance.now(), status, error });
}
