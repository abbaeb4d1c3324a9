import { withDeadline } from '../../core/deadline.js';
import { logger } from '../../core/logger.js';
import { counter } from '../../observability/metrics.js';
import type { SpanRecord } from '../../observability/tracing/span.js';
import { BatchProcessor, drainWithin } from './batch-processor.js';
import { Pool } from 'undici';

// Where finished spans go: the batch processor the loggers use (common/batch-processor.ts)
// and one POST per batch. Nothing here runs in a request: a span is appended to the batch,
// which is encoded and sent from a timer or once full. The processor already bounds what a
// dead or slow collector can cost: at most `maxQueueSize` spans held per exporter (twice
// that with `dropOnQueueFull: false` while the collector answers, one batch once it counts
// as down), a backoff between attempts, drops counted in
// `gatehouse_tracing_spans_dropped_total{plugin,reason}` and one warning per interval.

export interface SpanBatching {
  /** Spans held at most: buffered, queued and being sent. */
  maxQueueSize: number;
  maxExportBatchSize: number;
  /** A batch goes out once its oldest span has waited this long. */
  batchTimeoutMs: number;
  /** …or once no span came for this long. */
  inactiveTimeoutMs: number;
  /**
   * false: while the collector is not failing, a span past `maxQueueSize` is kept (up to
   * twice it) instead of dropped; see the batch processor's `keepWhenFull`.
   */
  dropOnQueueFull: boolean;
  maxRetryCount: number;
  retryDelayMs: number;
}

export interface SpanExportOptions {
  /** The plugin exporting (log lines, the metric's label). */
  plugin: string;
  url: string;
  headers: Record<string, string>;
  timeoutMs: number;
  batching: SpanBatching;
  /** The request body of one batch. */
  encode(spans: SpanRecord[]): { body: Buffer | string; contentType: string };
}

const dropped = counter('gatehouse_tracing_spans_dropped_total',
  'Spans a tracing plugin gave up on: reason queue_full (too many pending) or send_failed (out of retries)', ['plugin', 'reason']);

/**
 * One connection pool per collector origin for the worker, rather than http-client.ts's
 * shared pools: a batch goes out every hundred or so requests at full sampling, and a
 * request by path on a per-origin Pool skips the URL parse, the Agent's origin lookup and
 * the keepalive_pool bookkeeping (measured: the shared pools cost the otel bench ~2-3 % and
 * p99 spikes). Collectors are few (they come from configuration); idle connections close
 * after the keep-alive.
 */
const pools = new Map<string, Pool>();

function poolOf(origin: string): Pool {
  let pool = pools.get(origin);
  if (pool === undefined) pools.set(origin, pool = new Pool(origin, { connections: 8, keepAliveTimeout: 10_000 }));
  return pool;
}

/** Exporters holding spans, flushed when the plugins' code is unloaded (a reload). */
const live = new Set<SpanExporter>();

export class SpanExporter {
  private readonly processor: BatchProcessor<SpanRecord>;
  private readonly pool: Pool;
  private readonly path: string;
  private readonly host: string;

  constructor(private readonly o: SpanExportOptions) {
    const url = new URL(o.url);
    this.pool = poolOf(url.origin);
    this.path = url.pathname + url.search;
    this.host = url.host;
    const log = {
      warn: (obj: object, msg: string): void => logger().warn({ plugin: o.plugin, ...obj }, msg),
      error: (obj: object, msg: string): void => logger().error({ plugin: o.plugin, ...obj }, msg),
    };
    this.processor = new BatchProcessor<SpanRecord>({
      name: `${o.plugin} exporter`,
      batchMaxSize: o.batching.maxExportBatchSize,
      inactiveTimeoutMs: o.batching.inactiveTimeoutMs,
      bufferDurationMs: o.batching.batchTimeoutMs,
      maxRetryCount: o.batching.maxRetryCount,
      retryDelayMs: o.batching.retryDelayMs,
      maxPending: o.batching.maxQueueSize,
      keepWhenFull: !o.batching.dropOnQueueFull,
      send: (spans) => this.post(spans),
      log,
      onDrop: (n, reason) => dropped.inc({ plugin: o.plugin, reason }, n),
      onIdle: () => live.delete(this),
    });
  }

  /** Spans held now (buffered, queued, in flight). */
  get pending(): number {
    return this.processor.pending;
  }

  add(span: SpanRecord): void {
    live.add(this);
    this.processor.push(span);
  }

  /** Sends what is buffered and resolves once every span is sent or given up on. */
  drain(): Promise<void> {
    return this.processor.drain();
  }

  private async post(spans: SpanRecord[]): Promise<void> {
    const { body, contentType } = this.o.encode(spans);
    const ms = this.o.timeoutMs;
    let status = 0;
    await withDeadline(ms, async (signal) => {
      const res = await this.pool.request({
        path: this.path, method: 'POST', headers: { ...this.o.headers, 'content-type': contentType }, body,
        headersTimeout: ms, bodyTimeout: ms, signal,
      });
      status = res.statusCode;
      await res.body.dump();
    });
    if (status < 200 || status >= 300) throw new Error(`collector answered ${status} (${this.host})`);
  }
}

/** How long unloading the plugins waits for pending spans before leaving them. */
const DESTROY_DRAIN_MS = 3000;

/** Flushes every exporter holding spans, waiting at most a few seconds (a dead collector must not hold up a reload). */
export async function drainSpanExporters(): Promise<void> {
  const all = [...live];
  live.clear();
  await drainWithin(all, DESTROY_DRAIN_MS);
}
