// APISIX's batch processor (apisix/utils/batch-processor.lua), for loggers that ship
// entries somewhere: entries are buffered and sent as one batch when `batch_max_size`
// are waiting, when none arrived for `inactive_timeout` seconds, or when the oldest has
// waited `buffer_duration` seconds. A failed batch is retried `max_retry_count` times,
// `retry_delay` seconds apart, then dropped. Nothing here ever waits in a request: `push`
// only appends, and timers are unref'd so they never keep a process alive.
//
// Beyond APISIX: at most `maxPending` entries are held (buffered plus being sent); past
// that new entries are dropped and counted, so an unreachable endpoint cannot eat memory.

export interface BatchProcessorLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface BatchProcessorOptions<T> {
  /** Shown in log lines: `Batch Processor[<name>] ...`. */
  name: string;
  batchMaxSize: number;
  inactiveTimeoutMs: number;
  bufferDurationMs: number;
  maxRetryCount: number;
  retryDelayMs: number;
  /** Entries held at most (buffered + in flight); default max(10000, 2 × batchMaxSize). */
  maxPending?: number;
  /** Sends one batch; a rejection is a failure (retried). */
  send(entries: T[]): Promise<void>;
  log: BatchProcessorLog;
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

export class BatchProcessor<T> {
  private buffer: T[] = [];
  private firstAt = 0;
  private lastAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private readonly maxPending: number;
  private readonly now: () => number;
  /** Entries dropped because too many were pending (reported once per burst). */
  dropped = 0;
  /** Batches sent successfully / given up on (for tests and status). */
  sent = 0;
  failed = 0;
  private sending: Promise<void>[] = [];

  constructor(private readonly opts: BatchProcessorOptions<T>) {
    this.maxPending = opts.maxPending ?? Math.max(10_000, opts.batchMaxSize * 2);
    this.now = opts.now ?? Date.now;
  }

  /** Entries waiting in the buffer or being sent. */
  get pending(): number {
    return this.buffer.length + this.inFlight;
  }

  push(entry: T): void {
    if (this.pending >= this.maxPending) {
      if (this.dropped++ === 0) {
        this.opts.log.warn({ max_pending: this.maxPending }, `Batch Processor[${this.opts.name}] too many pending entries; dropping new ones`);
      }
      return;
    }
    if (this.dropped > 0) {
      this.opts.log.warn({ dropped: this.dropped }, `Batch Processor[${this.opts.name}] dropped ${this.dropped} entries`);
      this.dropped = 0;
    }
    const now = this.now();
    if (this.buffer.length === 0) this.firstAt = now;
    this.lastAt = now;
    this.buffer.push(entry);
    if (this.buffer.length >= this.opts.batchMaxSize) {
      this.flush();
      return;
    }
    // One timer, re-armed when it fires early, instead of resetting a timer per entry.
    if (this.timer === undefined) this.arm(this.opts.inactiveTimeoutMs);
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

  /** Sends what is buffered now (also used when a logger's code is unloaded). */
  flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    this.inFlight += batch.length;
    const p = this.deliver(batch).finally(() => {
      this.inFlight -= batch.length;
      this.sending = this.sending.filter((x) => x !== p);
      if (this.pending === 0) this.opts.onIdle?.(this);
    });
    this.sending.push(p);
  }

  /** Flushes and resolves once every batch is sent or given up on. */
  async drain(): Promise<void> {
    this.flush();
    while (this.sending.length > 0) await Promise.all(this.sending);
  }

  private async deliver(batch: T[]): Promise<void> {
    const { name, maxRetryCount, retryDelayMs, log } = this.opts;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.opts.send(batch);
        this.sent++;
        return;
      } catch (err) {
        const message = (err as Error)?.message ?? String(err);
        if (attempt >= maxRetryCount) {
          this.failed++;
          log.error({ err: message, entries: batch.length },
            `Batch Processor[${name}] exceeded the max_retry_count[${maxRetryCount}] dropping the entries`);
          return;
        }
        log.warn({ err: message, retry: attempt + 1 }, `Batch Processor[${name}] failed to process entries: ${message}`);
        await new Promise<void>((resolve) => setTimeout(resolve, retryDelayMs).unref());
      }
    }
  }
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
