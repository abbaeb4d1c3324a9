import type { Cluster, Worker } from 'node:cluster';
import type { CounterStore, WindowCount } from '../contracts/counter-store.js';
import type { CounterOpsMessage, CounterResultsMessage } from './messages.js';

// The shared counters of a node (policy `local` of limit-count, limit-req and
// limit-conn). Workers are separate processes without shared memory, so the state lives
// here, in the primary, and every operation is applied by this one thread: an increment
// and its check are atomic, and two workers never together let through more than a
// limit allows. Counters therefore survive worker restarts; the slots limit-conn holds
// for a worker that dies are given back when it exits.
//
// Wire format (kept flat and small: it is JSON over the IPC channel). A worker sends the
// operations queued during one tick as one `counter-ops` message, `ops` being a flat
// list of OP_FIELDS-tuples `[id, op, key, a, b]`:
//   OP_INCR    a = by, b = windowMs   → `[id, count, resetMs]`
//   OP_TAKE    a = rate, b = burst    → `[id, delayMs | -1, 0]`
//   OP_ACQUIRE a = max                → `[id, inUse | -1, 0]`
//   OP_RELEASE (id 0: no answer)
// The primary answers the operations with an id in one `counter-results` message, a
// flat list of RESULT_FIELDS-tuples; `[id, null, message]` reports an error.

export const OP_INCR = 1;
export const OP_TAKE = 2;
export const OP_ACQUIRE = 3;
export const OP_RELEASE = 4;
export const OP_FIELDS = 5;
export const RESULT_FIELDS = 3;

/** How often expired windows, drained buckets and empty slots are forgotten. */
const SWEEP_MS = 10_000;

export type Clock = () => number;

interface Window { count: number; end: number }
interface Bucket { excess: number; last: number; rate: number }

/**
 * The counters and their algorithms, synchronous and driven by an injectable clock (ms).
 * `owner` names who holds limit-conn slots (a worker id; 0 in a single process).
 */
export class CounterTable {
  private readonly windows = new Map<string, Window>();
  private readonly buckets = new Map<string, Bucket>();
  private readonly conns = new Map<string, number>();
  private readonly owned = new Map<number, Map<string, number>>();

  constructor(private readonly now: Clock = () => performance.now()) {}

  /** Fixed window, as lua-resty-limit-count: the first hit opens a window of `windowMs`. */
  incr(key: string, by: number, windowMs: number): WindowCount {
    const now = this.now();
    let w = this.windows.get(key);
    if (w === undefined || now >= w.end) {
      w = { count: 0, end: now + windowMs };
      this.windows.set(key, w);
    }
    w.count += by;
    return { count: w.count, resetMs: Math.round(w.end - now) };
  }

  /**
   * Leaky bucket, as lua-resty-limit-req: `excess` is how many requests the bucket holds
   * beyond `rate`; each request adds one and time drains `rate` per second. A key's
   * first request starts with no excess. Over `burst` → -1 and nothing is recorded.
   */
  take(key: string, rate: number, burst: number): number {
    const now = this.now();
    const b = this.buckets.get(key);
    if (b === undefined) {
      this.buckets.set(key, { excess: 0, last: now, rate });
      return 0;
    }
    const excess = Math.max(b.excess - (rate * Math.abs(now - b.last)) / 1000 + 1, 0);
    // a hair of tolerance: floating point must not turn "exactly burst" into a rejection
    if (excess > burst + 1e-9) return -1;
    b.excess = excess;
    b.last = now;
    b.rate = rate;
    return (excess / rate) * 1000;
  }

  /** One more concurrent request for `key`, at most `max`; -1 (and nothing taken) beyond. */
  acquire(key: string, max: number, owner: number): number {
    const n = (this.conns.get(key) ?? 0) + 1;
    if (n > max) return -1;
    this.conns.set(key, n);
    let mine = this.owned.get(owner);
    if (mine === undefined) this.owned.set(owner, (mine = new Map()));
    mine.set(key, (mine.get(key) ?? 0) + 1);
    return n;
  }

  /** Gives back one of `owner`'s slots for `key`; a slot it does not hold is ignored. */
  release(key: string, owner: number): void {
    const mine = this.owned.get(owner);
    const held = mine?.get(key);
    if (mine === undefined || held === undefined) return;
    if (held <= 1) mine.delete(key);
    else mine.set(key, held - 1);
    if (mine.size === 0) this.owned.delete(owner);
    this.dropConns(key, 1);
  }

  /** Gives back every slot `owner` holds (its process died). Returns how many. */
  releaseOwner(owner: number): number {
    const mine = this.owned.get(owner);
    if (mine === undefined) return 0;
    this.owned.delete(owner);
    let total = 0;
    for (const [key, n] of mine) {
      this.dropConns(key, n);
      total += n;
    }
    return total;
  }

  /** Slots in use for `key` (tests, introspection). */
  inUse(key: string): number {
    return this.conns.get(key) ?? 0;
  }

  /** Forgets closed windows and buckets that have drained to the state of a new key. */
  sweep(): void {
    const now = this.now();
    for (const [key, w] of this.windows) if (now >= w.end) this.windows.delete(key);
    for (const [key, b] of this.buckets) {
      if ((b.rate * Math.abs(now - b.last)) / 1000 >= b.excess + 1) this.buckets.delete(key);
    }
  }

  /** Entries held (tests: the sweep keeps memory bounded). */
  get size(): number {
    return this.windows.size + this.buckets.size + this.conns.size;
  }

  private dropConns(key: string, n: number): void {
    const left = (this.conns.get(key) ?? 0) - n;
    if (left > 0) this.conns.set(key, left);
    else this.conns.delete(key);
  }
}

/** The store of a single process (unit tests, a gateway run without workers). */
export class LocalCounterStore implements CounterStore {
  constructor(readonly table: CounterTable = new CounterTable()) {}
  incr(key: string, by: number, windowMs: number): Promise<WindowCount> {
    return Promise.resolve(this.table.incr(key, by, windowMs));
  }
  take(key: string, rate: number, burst: number): Promise<number> {
    return Promise.resolve(this.table.take(key, rate, burst));
  }
  acquire(key: string, max: number): Promise<number> {
    return Promise.resolve(this.table.acquire(key, max, 0));
  }
  release(key: string): void {
    this.table.release(key, 0);
  }
}

function ignoreSendError(): void { /* the worker is going away; its exit releases its slots */ }

function isNum(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** Answers the workers' `counter-ops` messages from one CounterTable. */
export class CounterService {
  constructor(readonly table: CounterTable = new CounterTable()) {}

  /** Applies one message's operations for `owner`; returns the flat results to send back (may be empty). */
  handle(owner: number, ops: readonly unknown[]): (number | string | null)[] {
    const out: (number | string | null)[] = [];
    for (let i = 0; i + OP_FIELDS <= ops.length; i += OP_FIELDS) {
      const id = ops[i];
      const op = ops[i + 1];
      const key = ops[i + 2];
      const a = ops[i + 3];
      const b = ops[i + 4];
      if (!isNum(id)) continue;
      if (typeof key !== 'string' || !isNum(a) || !isNum(b)) {
        if (id > 0) out.push(id, null, 'malformed counter operation');
        continue;
      }
      switch (op) {
        case OP_INCR: {
          const r = this.table.incr(key, a, b);
          out.push(id, r.count, r.resetMs);
          break;
        }
        case OP_TAKE:
          out.push(id, this.table.take(key, a, b), 0);
          break;
        case OP_ACQUIRE:
          out.push(id, this.table.acquire(key, a, owner), 0);
          break;
        case OP_RELEASE:
          this.table.release(key, owner);
          break;
        default:
          if (id > 0) out.push(id, null, `unknown counter operation ${String(op)}`);
      }
    }
    return out;
  }

  /** A worker is gone: its limit-conn slots are given back. */
  ownerGone(owner: number): number {
    return this.table.releaseOwner(owner);
  }

  /** Serves every worker of `cluster` (the primary calls this once). */
  attach(cluster: Pick<Cluster, 'on'>): void {
    cluster.on('message', (worker: Worker, msg: unknown) => {
      const m = msg as Partial<CounterOpsMessage> | null;
      if (m === null || typeof m !== 'object' || m.type !== 'counter-ops' || !Array.isArray(m.ops)) return;
      const results = this.handle(worker.id, m.ops);
      if (results.length > 0 && worker.isConnected()) {
        // with a callback a channel closing meanwhile is not an 'error' event on the worker
        worker.send({ type: 'counter-results', results } satisfies CounterResultsMessage, undefined, ignoreSendError);
      }
    });
    cluster.on('exit', (worker: Worker) => { this.ownerGone(worker.id); });
    setInterval(() => this.table.sweep(), SWEEP_MS).unref();
  }
}
