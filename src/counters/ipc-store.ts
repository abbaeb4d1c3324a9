// A cluster worker's CounterStore: the counters limit-count, limit-req and limit-conn
// share across the workers of a node (policy `local`) live in the primary's
// CounterService and are reached over the IPC channel.
//
// The client is built for the hot path: each operation gets a numeric id and one entry
// in one pending map; the operations of a tick go out as one message and come back as
// one; a single `message` listener and a single sweeper timer serve every request (no
// per-request listeners or timers). An operation the primary has not answered within
// `timeoutMs` fails, and the plugin applies its `allow_degradation`.
//
// limit-count does not go to the primary per request: the worker holds a lease of a
// key's window (a block of its remaining count, see CounterTable.lease) and admits from
// it synchronously — no message, no promise — until it is used up or the window ends.
// The block it asks for is what it admitted over the last LEASE_MS at its recent rate
// (1 for a key it has not seen lately), so a busy key costs a few messages a second and
// a quiet one is decided by the primary request by request, exactly as without leases.
// A busy key's next block is asked for when the one held falls to its low-water mark
// (PREFETCH_AT), while the worker goes on admitting from what is left, so at a steady
// rate no request waits for the primary; a grant of the same window adds to what is
// held, one of a new window replaces it. Only a request that finds no token (a quiet
// key, a burst that outran the prefetch, a new or spent window) waits for an answer.
import type { CounterStore, KeyMarks, WindowCount } from '../contracts/counter-store.js';
import type { CounterOpsMessage, CounterResultsMessage } from './wire.js';
import { type QuotaAnswer, type QuotaCounter } from './counter-table.js';
import type { ValueStore } from './value-book.js';
import {
  OP_ACQUIRE, OP_ADD, OP_FIELDS, OP_GET, OP_INCR, OP_LEASE, OP_MARK, OP_MARKED, OP_PREFETCH, OP_RELEASE, OP_RETURN, OP_SET, OP_TAKE, RECLAIM_ID, RESULT_FIELDS,
} from './wire.js';

export type { QuotaAnswer, QuotaCounter } from './counter-table.js';

/** The IPC channel as the client needs it (a worker's `process`, or a fake in tests). */
export interface CounterChannel {
  readonly connected: boolean;
  /** Throws (or the message is lost) when the channel is closed. */
  send(msg: CounterOpsMessage): void;
  onMessage(listener: (msg: unknown) => void): void;
  onDisconnect(listener: () => void): void;
}

interface Pending {
  op: number;
  at: number;
  resolve(v: unknown): void;
  reject(err: Error): void;
}

const DEFAULT_TIMEOUT_MS = 2_000;
/** A lease is sized to what the worker admitted for the key over this long, at its recent rate. */
export const LEASE_MS = 50;
/**
 * The next lease is asked for once the tokens held fall to 1 / PREFETCH_AT of the last
 * grant. Why a half: a lease is LEASE_MS of traffic, so half of it leaves ~25 ms at the
 * steady rate for the answer — many IPC round trips, even with the primary busy on the
 * shared cores (a GC pause, a burst of store events) or the rate doubling meanwhile.
 * Waiting costs far more (every request arriving until the answer stalls) than holding
 * more: a worker holds up to 1.5 leases instead of 1, and a reclaim takes those tokens
 * back before anyone is refused. A grant of 1 (a quiet key) has no low-water mark.
 */
const PREFETCH_AT = 2;
/** How often leases of closed windows are forgotten. */
const LEASE_SWEEP_MS = 10_000;

interface LeaseAnswer { granted: number; resetMs: number; pool: number; gen: number; sole: boolean }

interface Waiter { resolve(a: QuotaAnswer): void; reject(err: Error): void }

/** This worker's share of one key's window. */
class Lease {
  /** Admissions held and not used yet. */
  tokens = 0;
  /**
   * When the window ends, on this process's clock: the primary's `resetMs` counted from
   * when the request was *sent*, so never later than the primary's own end.
   */
  end = 0;
  gen = 0;
  /** The primary's pool right after the last grant. */
  pool = 0;
  /** Only worker of the node: pool + tokens is exactly what is left. */
  sole = false;
  /** The primary had nothing left for anyone (after reclaiming): refused until `end`. */
  exhausted = false;
  /** Tokens left at which the next lease is asked for (see PREFETCH_AT); 0: none before they run out. */
  lowWater = 0;
  asking = false;
  waiters: Waiter[] = [];
  /** Admissions since the last request to the primary, and when it was sent (the rate). */
  served = 0;
  askedAt = -1;
  constructor(readonly limit: number, readonly windowMs: number) {}
}

export class IpcCounterStore implements CounterStore, QuotaCounter, KeyMarks, ValueStore {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private queue: (number | string)[] = [];
  private scheduled = false;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly leases = new Map<string, Lease>();
  private leaseSweeper: NodeJS.Timeout | undefined;

  constructor(private readonly channel: CounterChannel, private readonly timeoutMs = DEFAULT_TIMEOUT_MS,
    private readonly now: () => number = () => performance.now()) {
    channel.onMessage((m) => {
      const msg = m as Partial<CounterResultsMessage> | null;
      if (msg !== null && typeof msg === 'object' && msg.type === 'counter-results' && Array.isArray(msg.results)) {
        this.onResults(msg.results);
      }
    });
    channel.onDisconnect(() => this.failAll(new Error('the counter service is gone (primary disconnected)')));
  }

  incr(key: string, by: number, windowMs: number): Promise<WindowCount> {
    return this.call(OP_INCR, key, by, windowMs, 0) as Promise<WindowCount>;
  }

  take(key: string, rate: number, burst: number): Promise<number> {
    return this.call(OP_TAKE, key, rate, burst, 0) as Promise<number>;
  }

  acquire(key: string, max: number): Promise<number> {
    return this.call(OP_ACQUIRE, key, max, 0, 0) as Promise<number>;
  }

  release(key: string): void {
    this.enqueue(0, OP_RELEASE, key, 0, 0, 0);
  }

  /** Resolves once the primary has stored the mark: every worker asking after that sees it. */
  mark(key: string, ttlMs: number): Promise<void> {
    return this.call(OP_MARK, key, ttlMs, 0, 0).then(() => undefined);
  }

  isMarked(key: string): Promise<boolean> {
    return this.call(OP_MARKED, key, 0, 0, 0).then((left) => (left as number) > 0);
  }

  getValue(key: string): Promise<number> {
    return this.call(OP_GET, key, 0, 0, 0) as Promise<number>;
  }

  /** Resolves once the primary has written it (value-book.ts). */
  setValue(key: string, value: number): Promise<void> {
    return this.call(OP_SET, key, value, 0, 0).then(() => undefined);
  }

  addValue(key: string, by: number): Promise<number> {
    return this.call(OP_ADD, key, by, 0, 0) as Promise<number>;
  }

  /**
   * One hit of limit-count's window for `key`: from this worker's lease when it holds a
   * token of the open window (synchronous; at the low-water mark the next lease is asked
   * for in the background), refused synchronously when the primary has said the window
   * has nothing left, else by the primary (a promise).
   *
   * `remaining` never over-states: with one worker it is exact (its lease plus the pool,
   * which nobody else draws from); with several it is what this worker can vouch for —
   * its own unused lease, plus the pool as the primary reported it when the answer came
   * straight from the primary (tokens other workers hold are not counted).
   */
  hit(key: string, limit: number, windowMs: number): QuotaAnswer | Promise<QuotaAnswer> {
    const now = this.now();
    let l = this.leases.get(key);
    if (l === undefined || (l.limit !== limit && !l.asking)) {
      l = new Lease(limit, windowMs);
      this.leases.set(key, l);
      if (this.leaseSweeper === undefined) this.startLeaseSweeper();
    }
    if (now < l.end && l.waiters.length === 0) {
      if (l.tokens > 0) {
        l.tokens--;
        l.served++;
        if (l.tokens > 0 && l.tokens <= l.lowWater && !l.asking) this.ask(key, l, true);
        return { admitted: true, remaining: l.sole ? l.tokens + l.pool : l.tokens, resetMs: l.end - now };
      }
      if (l.exhausted) return { admitted: false, remaining: 0, resetMs: l.end - now };
    }
    return this.wait(key, l);
  }

  /** The hit waits for the primary's answer (its own request, or the one in flight). */
  private wait(key: string, l: Lease): Promise<QuotaAnswer> {
    return new Promise<QuotaAnswer>((resolve, reject) => {
      l.waiters.push({ resolve, reject });
      if (!l.asking) this.ask(key, l);
    });
  }

  /**
   * Asks the primary for a lease: enough for the waiting requests, or for LEASE_MS at the
   * recent rate. A `prefetch` is asked while the worker still admits from its tokens: they
   * stay theirs (the primary counts them as held), and its grant is added to them.
   */
  private ask(key: string, l: Lease, prefetch = false): void {
    const now = this.now();
    let want = l.waiters.length;
    if (l.askedAt >= 0) want = Math.max(want, Math.ceil((l.served * LEASE_MS) / Math.max(1, now - l.askedAt)));
    l.asking = true;
    l.served = 0;
    l.askedAt = now;
    if (!prefetch) {
      // none left, or of a window that has ended here: counted as used, never admitted
      l.tokens = 0;
      l.exhausted = false;
    }
    const sentAt = now;
    const op = prefetch ? OP_PREFETCH : OP_LEASE;
    (this.call(op, key, l.limit, l.windowMs, Math.max(1, want)) as Promise<LeaseAnswer>).then((g) => {
      l.asking = false;
      const now = this.now();
      // what is left of another window (or of one over on this clock) is not this window's to admit
      if (g.gen !== l.gen || now >= l.end) l.tokens = 0;
      l.gen = g.gen;
      l.pool = g.pool;
      l.sole = g.sole;
      l.end = sentAt + g.resetMs;
      const resetMs = Math.max(0, l.end - now);
      const waiters = l.waiters;
      if (g.granted <= 0 && prefetch) {
        // the pool is empty, but a prefetch does not make the primary reclaim: nobody is
        // refused on its answer; the tokens held still admit, then a plain request decides
        l.lowWater = 0;
        if (waiters.length > 0) this.ask(key, l);
        return;
      }
      if (g.granted <= 0) {
        l.exhausted = true;
        l.waiters = [];
        for (const w of waiters) w.resolve({ admitted: false, remaining: 0, resetMs });
        return;
      }
      l.tokens += g.granted;
      l.lowWater = Math.floor(g.granted / PREFETCH_AT);
      let i = 0;
      for (; i < waiters.length && l.tokens > 0; i++) {
        l.tokens--;
        l.served++;
        // straight from the primary: its pool as of now, plus what this worker holds
        waiters[i]!.resolve({ admitted: true, remaining: l.pool + l.tokens, resetMs });
      }
      l.waiters = i === waiters.length ? [] : waiters.slice(i);
      if (l.waiters.length > 0) this.ask(key, l);
    }, (err: Error) => {
      l.asking = false;
      // tokens held stay (requests admitted from them are done); no new prefetch for them:
      // the next hit without a token asks (and fails or waits) as a plain request
      l.lowWater = 0;
      const waiters = l.waiters;
      l.waiters = [];
      for (const w of waiters) w.reject(err);
    });
  }

  /**
   * The primary wants `key`'s unused tokens of window `gen` back: all of them go (none
   * when this worker has none). With a prefetch in flight too: its grant is added to what
   * is left then (nothing), so given-back tokens never come back.
   */
  private reclaim(key: string, gen: number): void {
    const l = this.leases.get(key);
    let n = 0;
    if (l !== undefined && l.gen === gen) {
      n = l.tokens;
      l.tokens = 0;
    }
    this.enqueue(0, OP_RETURN, key, n, gen, 0);
  }

  private startLeaseSweeper(): void {
    this.leaseSweeper = setInterval(() => this.sweepLeases(), LEASE_SWEEP_MS).unref();
  }

  private sweepLeases(): void {
    const now = this.now();
    for (const [key, l] of this.leases) if (now >= l.end && !l.asking && l.waiters.length === 0) this.leases.delete(key);
  }

  /** Leases held (tests). */
  get leaseCount(): number {
    return this.leases.size;
  }

  /** Operations sent and not answered yet (tests). */
  get inFlight(): number {
    return this.pending.size;
  }

  private call(op: number, key: string, a: number, b: number, c: number): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { op, at: this.now(), resolve, reject });
      this.enqueue(id, op, key, a, b, c);
      this.sweeper ??= setInterval(() => this.expire(), Math.max(50, this.timeoutMs / 4)).unref();
    });
  }

  private enqueue(id: number, op: number, key: string, a: number, b: number, c: number): void {
    this.queue.push(id, op, key, a, b, c);
    if (!this.scheduled) {
      this.scheduled = true;
      // after the I/O callbacks of this loop turn: every request parsed in it shares the message
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const ops = this.queue;
    this.queue = [];
    if (ops.length === 0) return;
    let err: Error | undefined;
    if (!this.channel.connected) {
      err = new Error('the counter service is unreachable (IPC channel closed)');
    } else {
      try {
        this.channel.send({ type: 'counter-ops', ops });
      } catch (e) {
        err = e as Error;
      }
    }
    if (err === undefined) return;
    for (let i = 0; i < ops.length; i += OP_FIELDS) this.settle(ops[i] as number, err);
  };

  private onResults(results: readonly unknown[]): void {
    for (let i = 0; i + RESULT_FIELDS <= results.length; i += RESULT_FIELDS) {
      const id = results[i] as number;
      if (id === RECLAIM_ID) {
        if (typeof results[i + 1] === 'string') this.reclaim(results[i + 1] as string, results[i + 2] as number);
        continue;
      }
      const p = this.pending.get(id);
      if (p === undefined) continue; // timed out meanwhile
      this.pending.delete(id);
      const x = results[i + 1];
      const y = results[i + 2];
      if (typeof x !== 'number') p.reject(new Error(typeof y === 'string' ? y : 'counter operation failed'));
      else if (p.op === OP_INCR) p.resolve({ count: x, resetMs: y as number } satisfies WindowCount);
      else if (p.op === OP_LEASE || p.op === OP_PREFETCH) {
        p.resolve({ granted: x, resetMs: y as number, pool: results[i + 3] as number, gen: results[i + 4] as number,
          sole: results[i + 5] === 1 } satisfies LeaseAnswer);
      } else p.resolve(x);
    }
  }

  private settle(id: number, err: Error): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    p.reject(err);
  }

  /** Fails operations older than the timeout. Ids grow with time, so the map is in age order. */
  private expire(): void {
    const limit = this.now() - this.timeoutMs;
    for (const [id, p] of this.pending) {
      if (p.at > limit) break;
      this.pending.delete(id);
      p.reject(new Error(`the counter service did not answer within ${this.timeoutMs} ms`));
    }
  }

  private failAll(err: Error): void {
    for (const [id] of this.pending) this.settle(id, err);
  }
}

/** This worker's IPC channel to the primary. */
export function processChannel(): CounterChannel {
  return {
    get connected() { return process.connected; },
    send(msg) {
      process.send!(msg);
    },
    onMessage(listener) { process.on('message', listener); },
    onDisconnect(listener) { process.once('disconnect', listener); },
  };
}
