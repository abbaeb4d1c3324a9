// One watch on the store's prefix, kept alive across disconnects. It remembers the last
// revision it handed over and re-creates the etcd watch from the next one, so a watcher
// that was away gets exactly the changes it missed (no reload). When etcd has compacted
// that revision away the watch asks the store for a full resync (a `reset`) and goes on
// from the revision of that state.
//
// etcd sends the events of one revision (one transaction) in one response, never split;
// each response is handed over whole and synchronously, so a consumer never sees half a
// transaction followed by a pause.
import type { IDuplexStream, IEvent, IWatchRequest, IWatchResponse } from 'etcd3';
import type { Logger } from '../core/logger.js';
import type { EtcdConnection } from './etcd-connection.js';
import type { KeyRange } from './etcd-keys.js';

export interface PrefixWatchOptions {
  connection: EtcdConnection;
  range: KeyRange;
  /** Events after this revision are delivered. */
  fromRevision: number;
  /** One response: the events of one or more whole revisions, in order. */
  onEvents(events: IEvent[]): void;
  /** The revision to resume from was compacted: reload, emit the reset and return its revision. */
  resync(): Promise<number>;
  log: Logger;
}

type WatchStream = IDuplexStream<IWatchRequest, IWatchResponse>;

/** How long a watch that failed for another reason than reachability waits before trying again. */
const RETRY_MS = [100, 250, 500, 1000, 2000, 5000];

export class PrefixWatch {
  private last: number;
  private stream: WatchStream | undefined;
  private stopped = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private waitingForEtcd = false;
  private readonly stopListening: () => void;

  constructor(private readonly opts: PrefixWatchOptions) {
    this.last = opts.fromRevision;
    // while etcd is down the connection's probe says when it is back
    this.stopListening = opts.connection.onReachability((up) => {
      if (up && this.waitingForEtcd) this.retryNow();
    });
    void this.open();
  }

  /** The newest revision handed over (events of ignored keys included). */
  get revision(): number {
    return this.last;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stopListening();
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.closeStream();
  }

  private async open(): Promise<void> {
    if (this.stopped) return;
    let stream: WatchStream;
    try {
      stream = await this.opts.connection.client.watchClient.watch();
    } catch (e) {
      this.fail(e);
      return;
    }
    if (this.stopped) {
      stream.cancel();
      return;
    }
    this.stream = stream;
    stream.on('data', (res: IWatchResponse) => { if (this.stream === stream) this.onResponse(res); });
    stream.on('error', (e: Error) => { if (this.stream === stream) this.fail(e); });
    stream.on('end', () => { if (this.stream === stream) this.fail(new Error('etcd closed the watch stream')); });
    const { key, range_end } = this.opts.range;
    stream.write({ create_request: { key, range_end, start_revision: this.last + 1 } });
  }

  private onResponse(res: IWatchResponse): void {
    if (res.canceled) {
      const compacted = Number(res.compact_revision);
      if (compacted > 0) void this.resync(compacted);
      else this.fail(new Error(`etcd cancelled the watch: ${res.cancel_reason || 'no reason given'}`));
      return;
    }
    this.failures = 0;
    this.opts.connection.markUp();
    if (res.created && Number(res.header.revision) < this.last) {
      // etcd is behind what this watcher has seen (restored from an older backup, or another
      // cluster): waiting for the revision to come round would miss everything until then
      void this.resync(0);
      return;
    }
    if (res.events.length === 0) return;
    const revision = Number(res.events[res.events.length - 1]!.kv.mod_revision);
    this.opts.onEvents(res.events);
    if (revision > this.last) this.last = revision;
  }

  /** `compacted` = etcd's compaction revision, or 0 when etcd is behind the watcher. */
  private async resync(compacted: number): Promise<void> {
    this.closeStream();
    if (compacted > 0) {
      this.opts.log.warn({ from_revision: this.last + 1, compacted_to: compacted },
        'etcd compacted the revisions this watch needs: reloading the whole configuration');
    } else {
      this.opts.log.warn({ from_revision: this.last + 1 }, 'etcd is at an older revision than this watch has seen: reloading the whole configuration');
    }
    try {
      this.last = await this.opts.resync();
    } catch (e) {
      this.fail(e);
      return;
    }
    void this.open();
  }

  private fail(e: unknown): void {
    this.closeStream();
    if (this.stopped) return;
    const error = this.opts.connection.failure(e);
    if (!this.opts.connection.reachable()) {
      this.waitingForEtcd = true;
      return;
    }
    this.failures++;
    const delay = RETRY_MS[Math.min(this.failures - 1, RETRY_MS.length - 1)]!;
    this.opts.log.warn({ err: error.message, retry_in_ms: delay, from_revision: this.last + 1 }, 'etcd watch failed');
    this.retryTimer = setTimeout(() => this.retryNow(), delay);
    this.retryTimer.unref();
  }

  private retryNow(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.waitingForEtcd = false;
    if (this.stopped || this.stream !== undefined) return;
    void this.reopen();
  }

  /** A unary request first: it renews an expired auth token (the stream cannot) and says whether etcd is back. */
  private async reopen(): Promise<void> {
    try {
      await this.opts.connection.check();
    } catch (e) {
      this.fail(e);
      return;
    }
    await this.open();
  }

  private closeStream(): void {
    const stream = this.stream;
    this.stream = undefined;
    // its listeners ignore what a replaced stream still emits (the cancellation arrives as an error)
    stream?.cancel();
  }
}
