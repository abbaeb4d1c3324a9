// APISIX's batch processor (apisix/utils/batch-processor.lua), for loggers that ship
// entries somewhere: entries are buffered and sent as one batch when `batch_max_size`
// are waiting, when none arrived for `inactive_timeout` seconds, or when the oldest has
// waited `buffer_duration` seconds. A failed batch is retried `max_retry_count` times,
// then dropped. Nothing here ever waits in a request: `push` only appends, and timers
// are unref'd so they never keep a process alive.
//
// Beyond APISIX, so that a dead or slow endpoint costs the gateway next to nothing:
// - at most `maxPending` entries are held (buffered, queued and in flight); past that
//   new entries are dropped and counted (`pushLazy` lets a caller skip building them);
//   with `keepWhenFull`, an entry past it is kept while the endpoint is not failing, up
//   to twice `maxPending`, for a caller that would rather hold more than drop;
// - at most `maxConcurrentSends` batches are in flight; full batches queue behind them;
// - a failure pauses all sending with exponential backoff (`retry_delay` doubling per
//   consecutive failure, from at least `minBackoffMs` up to `maxBackoffMs`): a dead
//   endpoint gets one attempt per backoff interval, not one per batch;
// - once `DOWN_AFTER_FAILURES` attempts in a row failed, the endpoint counts as down:
//   only one batch is held for the next attempt, and entries past it are dropped
//   without being built, so a dead endpoint costs requests next to nothing;
// - failures and drops are reported in one warning per `warnIntervalMs`, not per batch.

import { WarnThrottle } from './warn-throttle.js';

export interface BatchProcessorLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export type DropReason = 'queue_full' | 'send_failed';

export interface BatchProcessorOptions<T> {
  /** Shown in log lines: `Batch Processor[<name>] ...`. */
  name: string;
  batchMaxSize: number;
  inactiveTimeoutMs: number;
  bufferDurationMs: number;
  maxRetryCount: number;
  retryDelayMs: number;
  /** Entries held at most (buffered + queued + in flight); default max(10000, 2 × batchMaxSize). */
  maxPending?: number;
  /**
   * While the endpoint is not failing, keep an entry past `maxPending` instead of dropping
   * it, up to twice `maxPending` (batches already go out as fast as `maxConcurrentSends`
   * allows, so this is room, not a faster send). Past that, or while failing, entries are
   * dropped as usual.
   */
  keepWhenFull?: boolean;
  /** Batches being sent at once; default 4. */
  maxConcurrentSends?: number;
  /** Backoff bounds after a failure; defaults 100 ms and 30 s. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** At most one failure warning per this interval; default 10 s. */
  warnIntervalMs?: number;
  /** Sends one batch; a rejection is a failure (retried). */
  send(entries: T[]): Promise<void>;
  log: BatchProcessorLog;
  /** Entries given up on: the queue was full, or their batch ran out of retries. */
  onDrop?: (entries: number, reason: DropReason) => void;
  /** Called when the last pending entry is sent or dropped. */
  onIdle?: (processor: BatchProcessor<T>) => void;
  /** For tests. */
  now?: () => number;
}

/** The APISIX schema fields of the batch processor, with APISIX's defaults. */
export const BATCH_PROCESSOR_PROPERTIES = {
  name: { type: 'string' },
  batch_max_size: { type: 'integer', minimum: 1, default: 1000 },
  inactive_timeout: { type: 'integer', minimum: 1, default: 5 },
  buffer_duration: { type: 'integer', minimum: 1, default: 60 },
  max_retry_count: { type: 'integer', minimum: 0, default: 0 },
  retry_delay: { type: 'integer', minimum: 0, default: 1 },
} as const;

export interface BatchConf {
  name?: string;
  batch_max_size?: number;
  inactive_timeout?: number;
  buffer_duration?: number;
  max_retry_count?: number;
  retry_delay?: number;
}

/** Consecutive failed attempts after which an endpoint counts as down. */
export const DOWN_AFTER_FAILURES = 3;

interface QueuedBatch<T> {
  entries: T[];
  /** Failed attempts so far. */
  failures: number;
}

export class BatchProcessor<T> {
  private buffer: T[] = [];
  private firstAt = 0;
  private lastAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly queue: QueuedBatch<T>[] = [];
  private queued = 0;
  private inFlight = 0;
  private sendingBatches = 0;
  /** Consecutive failed sends; the backoff grows with it and a success resets it. */
  private failureStreak = 0;
  private pausedUntil = 0;
  private resumeTimer: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];
  private readonly maxPending: number;
  private readonly maxConcurrent: number;
  private readonly now: () => number;
  private readonly report: FailureReport;
  /** Entries dropped, all reasons (for tests and status). */
  dropped = 0;
  /** Batches sent successfully / given up on (for tests and status). */
  sent = 0;
  failed = 0;

  constructor(private readonly opts: BatchProcessorOptions<T>) {
    this.maxPending = opts.maxPending ?? Math.max(10_000, opts.batchMaxSize * 2);
    this.maxConcurrent = Math.max(1, opts.maxConcurrentSends ?? 4);
    this.now = opts.now ?? Date.now;
    this.report = new FailureReport(opts.name, opts.log, opts.warnIntervalMs ?? 10_000, Date.now);
  }

  /** Entries waiting in the buffer, queued, or being sent. */
  get pending(): number {
    return this.buffer.length + this.queued + this.inFlight;
  }

  /** Entries held at most now: the configured bound, or one batch while the endpoint is down. */
  private get bound(): number {
    return this.failureStreak >= DOWN_AFTER_FAILURES ? Math.min(this.maxPending, this.opts.batchMaxSize) : this.maxPending;
  }

  /** Whether one more entry is kept now. */
  private get hasRoom(): boolean {
    const pending = this.pending;
    if (pending < this.bound) return true;
    return this.opts.keepWhenFull === true && this.failureStreak === 0 && pending < 2 * this.maxPending;
  }

  /** Like `push`, but the entry is built only when it will be kept. */
  pushLazy(build: () => T): void {
    if (this.hasRoom) this.push(build());
    else this.drop(1, 'queue_full');
  }

  push(entry: T): void {
    if (!this.hasRoom) {
      this.drop(1, 'queue_full');
      return;
    }
    const now = this.now();
    if (this.buffer.length === 0) this.firstAt = now;
    this.lastAt = now;
    this.buffer.push(entry);
    if (this.buffer.length >= this.opts.batchMaxSize) {
      this.flush();
      return;
    }
    // One timer, re-armed when it fires early, instead of resetting a timer per entry; it
    // first fires at the nearer of the two deadlines, which buffer_duration may be.
    if (this.timer === undefined) this.arm(Math.min(this.opts.inactiveTimeoutMs, this.opts.bufferDurationMs));
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => this.onTimer(), Math.max(1, ms));
    this.timer.unref();
  }

  private onTimer(): void {
    this.timer = undefined;
    if (this.buffer.length === 0) return;
    const due = Math.min(this.lastAt + this.opts.inactiveTimeoutMs, this.firstAt + this.opts.bufferDurationMs);
    const wait = due - this.now();
    if (wait > 0) this.arm(wait);
    else this.flush();
  }

  /** Queues what is buffered now as a batch (also used when a logger's code is unloaded). */
  flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.buffer.length > 0) {
      this.queue.push({ entries: this.buffer, failures: 0 });
      this.queued += this.buffer.length;
      this.buffer = [];
    }
    this.pump();
  }

  /** Flushes and resolves once every entry is sent or given up on (backoff included). */
  async drain(): Promise<void> {
    this.flush();
    while (this.pending > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    // While failing, one batch at a time probes the endpoint.
    const limit = this.failureStreak > 0 ? 1 : this.maxConcurrent;
    while (this.queue.length > 0 && this.sendingBatches < limit) {
      const wait = this.pausedUntil - Date.now();
      if (wait > 0) {
        if (this.resumeTimer === undefined) {
          this.resumeTimer = setTimeout(() => { this.resumeTimer = undefined; this.pump(); }, wait);
          this.resumeTimer.unref();
        }
        return;
      }
      const batch = this.queue.shift()!;
      this.queued -= batch.entries.length;
      this.inFlight += batch.entries.length;
      this.sendingBatches++;
      void this.deliver(batch);
    }
  }

  private async deliver(batch: QueuedBatch<T>): Promise<void> {
    const size = batch.entries.length;
    try {
      await this.opts.send(batch.entries);
      this.sent++;
      this.failureStreak = 0;
      this.pausedUntil = 0;
    } catch (err) {
      const message = (err as Error)?.message ?? String(err);
      this.failureStreak++;
      const base = Math.max(this.opts.retryDelayMs, this.opts.minBackoffMs ?? 100);
      const backoff = Math.min(this.opts.maxBackoffMs ?? 30_000, base * 2 ** Math.min(this.failureStreak - 1, 20));
      this.pausedUntil = Math.max(this.pausedUntil, Date.now() + backoff);
      if (++batch.failures > this.opts.maxRetryCount) {
        this.failed++;
        this.dropped += size;
        this.opts.onDrop?.(size, 'send_failed');
        this.report.failure(message, size);
      } else {
        this.report.failure(message, 0);
        // retried first, so entries keep their order
        this.queue.unshift(batch);
        this.queued += size;
      }
    } finally {
      this.inFlight -= size;
      this.sendingBatches--;
      this.pump();
      if (this.pending === 0) {
        this.opts.onIdle?.(this);
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    }
  }

  private drop(entries: number, reason: 'queue_full'): void {
    this.dropped += entries;
    this.opts.onDrop?.(entries, reason);
    this.report.queueFull(entries);
  }
}

/**
 * Failures and drops of one processor, summed into at most one warning per interval:
 * the first problem after a quiet interval is logged at once, later ones in the next
 * line (a timer makes sure the last ones are not kept back for ever).
 */
class FailureReport {
  private failures = 0;
  private droppedFull = 0;
  private droppedFailed = 0;
  private lastError = '';
  private readonly throttle: WarnThrottle;

  constructor(private readonly name: string, private readonly log: BatchProcessorLog, intervalMs: number, now: () => number) {
    this.throttle = new WarnThrottle(intervalMs, () => this.say(), now);
  }

  /** A failed attempt; `dropped` entries were given up on with it (their batch ran out of retries). */
  failure(message: string, dropped: number): void {
    this.failures++;
    this.droppedFailed += dropped;
    this.lastError = message;
    this.throttle.due();
  }

  queueFull(entries: number): void {
    this.droppedFull += entries;
    this.throttle.due();
  }

  private say(): boolean {
    if (this.failures === 0 && this.droppedFull === 0 && this.droppedFailed === 0) return false;
    const parts: string[] = [];
    if (this.failures > 0) parts.push(`${this.failures} failed attempt(s), last error: ${this.lastError}`);
    if (this.droppedFailed > 0) parts.push(`${this.droppedFailed} entries dropped after max_retry_count`);
    if (this.droppedFull > 0) parts.push(`${this.droppedFull} entries dropped, too many pending`);
    this.log.warn({ failed_attempts: this.failures, dropped_after_retries: this.droppedFailed, dropped_queue_full: this.droppedFull,
      err: this.failures > 0 ? this.lastError : undefined },
    `Batch Processor[${this.name}] ${parts.join('; ')}`);
    this.failures = this.droppedFull = this.droppedFailed = 0;
    return true;
  }
}

/**
 * Drains every processor (`drain()`: sends what is buffered and waits for it), waiting at
 * most `ms`: when a plugin is unloaded, a dead endpoint must not hold up the reload for its
 * backoff; what is left then is left.
 */
export async function drainWithin(processors: readonly { drain(): Promise<void> }[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const giveUp = new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); timer.unref(); });
  await Promise.race([Promise.all(processors.map((p) => p.drain())), giveUp]);
  clearTimeout(timer);
}

/** Options from an APISIX-style config (seconds → ms). */
export function batchOptionsOf(conf: BatchConf, defaultName: string): Omit<BatchProcessorOptions<never>, 'send' | 'log'> {
  return {
    name: conf.name ?? defaultName,
    batchMaxSize: conf.batch_max_size ?? 1000,
    inactiveTimeoutMs: (conf.inactive_timeout ?? 5) * 1000,
    bufferDurationMs: (conf.buffer_duration ?? 60) * 1000,
    maxRetryCount: conf.max_retry_count ?? 0,
    retryDelayMs: (conf.retry_delay ?? 1) * 1000,
  };
}
