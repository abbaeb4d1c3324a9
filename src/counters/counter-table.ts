import type { CounterStore, KeyMarks, WindowCount } from '../contracts/counter-store.js';
import { MemoryValueBook, type ValueBook, type ValueStore } from './value-book.js';

// The shared counters of a node (policy `local` of limit-count, limit-req and
// limit-conn). Workers are separate processes without shared memory, so the state lives
// here, in the primary, and every operation is applied by this one thread: an increment
// and its check are atomic, and two workers never together let through more than a
// limit allows. Counters therefore survive worker restarts; the slots limit-conn holds
// for a worker that dies are given back when it exits.
//
// limit-count's fixed windows are shared out as quota leases (OP_LEASE): a worker asks
// for a block of a key's remaining count and then admits from it on its own, without a
// round trip per request. See `CounterTable.lease` for how a block is sized and
// `CounterService` for how unused blocks are reclaimed before anyone is refused. A busy
// worker asks for its next block before the one it holds runs out (OP_PREFETCH), so
// that it never has to make its requests wait for the answer.

/**
 * A lease is at most 1 / (LEASE_SHARE × workers) of what is left in the pool, so that
 * several workers can hold one at once and the pool shrinks geometrically: when little
 * is left, leases are single tokens and every admission is decided here, one by one.
 */
export const LEASE_SHARE = 2;
/**
 * At most this many marks are held (jwt-logout's revocations, ~150 bytes each): a consumer
 * able to mint its own tokens must not be able to fill the primary's memory. Beyond it a
 * new mark is refused (its logout fails) until old ones expire.
 */
export const MAX_MARKS = 500_000;
export const TOO_MANY_MARKS = `too many marks held (${MAX_MARKS})`;
/** How often expired windows, drained buckets and empty slots are forgotten. */
export const SWEEP_MS = 10_000;

export type Clock = () => number;

interface Window {
  /** Hits counted (OP_INCR) or tokens handed out in leases (OP_LEASE, never above the limit). */
  count: number;
  end: number;
  /** Generation: tells this window from the key's next one (returns for a closed window are ignored). */
  gen: number;
  /**
   * Workers that may hold unused tokens of this window → at most how many: what a lease
   * gave beyond the request it was asked for, plus what the worker still held when it
   * prefetched.
   */
  holders: Map<number, number> | undefined;
}

/** What the primary answers a lease request. */
export interface LeaseGrant {
  /** Tokens given, the asking request's own included; 0: none left (the request is refused). */
  granted: number;
  /** Milliseconds until the window closes. */
  resetMs: number;
  /** Tokens still in the pool after this grant (leases held by workers not counted). */
  pool: number;
  gen: number;
  /** The asking worker is the only one: the pool is its alone, so pool + lease is exact. */
  sole: boolean;
}

/** `CounterTable.lease`'s answer when other workers must give their unused leases back first. */
export const NEEDS_RECLAIM = null;
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
  /** Marked keys → when their mark ends. */
  private readonly marks = new Map<string, number>();
  private gen = 0;

  constructor(private readonly now: Clock = () => performance.now(), private readonly maxMarks = MAX_MARKS,
    /** Plain values with no window (ai-quota's quotas): the primary's is a file in data_dir. */
    readonly values: ValueBook = new MemoryValueBook()) {}

  /** The key's open window, a new one when there is none or it has closed. */
  private window(key: string, windowMs: number, now: number): Window {
    let w = this.windows.get(key);
    if (w === undefined || now >= w.end) {
      w = { count: 0, end: now + windowMs, gen: ++this.gen, holders: undefined };
      this.windows.set(key, w);
    }
    return w;
  }

  /** Fixed window, as lua-resty-limit-count: the first hit opens a window of `windowMs`. */
  incr(key: string, by: number, windowMs: number): WindowCount {
    const now = this.now();
    const w = this.window(key, windowMs, now);
    w.count += by;
    return { count: w.count, resetMs: Math.round(w.end - now) };
  }

  /**
   * Fixed window shared out as leases: `owner` needs a token for a request and would like
   * `want` (its recent rate over a short period). A plain lease request comes once its
   * previous lease of this window is used up, so that lease no longer holds anything; a
   * `prefetch` comes while it still holds some, which it keeps: the grant is added to
   * what it may hold, so a reclaim can ask for all of it. The grant is at most
   * what is left, and with several workers at most 1 / (LEASE_SHARE × workers) of it (at
   * least 1): plenty left → blocks, little left → single tokens, decided here one by one.
   * Tokens never go out beyond `limit` in a window, so workers together never admit more.
   *
   * Nothing left while other workers may still hold unused tokens → NEEDS_RECLAIM: the
   * caller asks them back (`holders`, `giveBack`) and asks again; the answer `granted: 0`
   * (refused) comes only when nobody holds any. A prefetch finding the pool empty is
   * answered `granted: 0` at once: nobody is refused by it (the worker still admits from
   * what it holds, then asks with a plain request), so it is not worth a reclaim.
   */
  lease(key: string, limit: number, windowMs: number, want: number, owner: number, workers: number,
    prefetch = false): LeaseGrant | typeof NEEDS_RECLAIM {
    const now = this.now();
    const w = this.window(key, windowMs, now);
    if (!prefetch) w.holders?.delete(owner);
    const pool = limit - w.count;
    if (pool <= 0) {
      if (!prefetch && w.holders !== undefined && w.holders.size > 0) return NEEDS_RECLAIM;
      return { granted: 0, resetMs: w.end - now, pool: 0, gen: w.gen, sole: workers <= 1 };
    }
    const cap = workers <= 1 ? pool : Math.max(1, Math.floor(pool / (LEASE_SHARE * workers)));
    const granted = Math.min(Math.max(1, Math.floor(want)), cap);
    w.count += granted;
    // a prefetch may be answered before any request uses a token of it: all of it may be held
    const held = prefetch ? (w.holders?.get(owner) ?? 0) + granted : granted - 1;
    if (held > 0) (w.holders ??= new Map()).set(owner, held);
    return { granted, resetMs: w.end - now, pool: limit - w.count, gen: w.gen, sole: workers <= 1 };
  }

  /** Workers that may hold unused tokens of `key`'s open window, with its generation; undefined when none. */
  holders(key: string): { owners: number[]; gen: number } | undefined {
    const w = this.windows.get(key);
    if (w === undefined || w.holders === undefined || w.holders.size === 0 || this.now() >= w.end) return undefined;
    return { owners: [...w.holders.keys()], gen: w.gen };
  }

  /**
   * `owner` gives back `n` unused tokens of window `gen` of `key` (and holds none any
   * more). Tokens of a window that has closed meanwhile are dropped with it.
   */
  giveBack(key: string, gen: number, n: number, owner: number): void {
    const w = this.windows.get(key);
    if (w === undefined || w.gen !== gen || this.now() >= w.end) return;
    const held = w.holders?.get(owner);
    w.holders?.delete(owner);
    // never more than it was given (a confused worker must not inflate the pool)
    const back = Math.min(Math.max(0, Math.floor(n)), held ?? 0, w.count);
    w.count -= back;
  }

  /** `owner` is gone: its unused tokens are lost with it (counted as used: never over-admit). */
  forgetHolder(owner: number): void {
    for (const w of this.windows.values()) w.holders?.delete(owner);
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

  /**
   * Marks `key` until `ttlMs` from now, unless it is already marked for longer. False (and
   * nothing marked) when MAX_MARKS are held even after forgetting the expired ones.
   */
  mark(key: string, ttlMs: number): boolean {
    const now = this.now();
    const end = now + Math.max(0, ttlMs);
    const held = this.marks.get(key);
    if (held === undefined && this.marks.size >= this.maxMarks) {
      for (const [k, e] of this.marks) if (now >= e) this.marks.delete(k);
      if (this.marks.size >= this.maxMarks) return false;
    }
    if ((held ?? -Infinity) < end) this.marks.set(key, end);
    return true;
  }

  /** Milliseconds left of `key`'s mark; 0 when it is not marked. */
  markLeft(key: string): number {
    const end = this.marks.get(key);
    return end === undefined ? 0 : Math.max(0, end - this.now());
  }

  /** Slots in use for `key` (tests, introspection). */
  inUse(key: string): number {
    return this.conns.get(key) ?? 0;
  }

  /** Forgets closed windows and buckets that have drained to the state of a new key. */
  sweep(): void {
    const now = this.now();
    for (const [key, w] of this.windows) if (now >= w.end) this.windows.delete(key);
    for (const [key, end] of this.marks) if (now >= end) this.marks.delete(key);
    for (const [key, b] of this.buckets) {
      if ((b.rate * Math.abs(now - b.last)) / 1000 >= b.excess + 1) this.buckets.delete(key);
    }
  }

  /** Entries held (tests: the sweep keeps memory bounded). */
  get size(): number {
    return this.windows.size + this.buckets.size + this.conns.size + this.marks.size;
  }

  private dropConns(key: string, n: number): void {
    const left = (this.conns.get(key) ?? 0) - n;
    if (left > 0) this.conns.set(key, left);
    else this.conns.delete(key);
  }
}

/** One hit of limit-count's fixed window, as the plugin needs it. */
export interface QuotaAnswer {
  admitted: boolean;
  /** What is left for the key in this window (see `QuotaCounter`): never more than there is. */
  remaining: number;
  /** Milliseconds until the window closes. */
  resetMs: number;
}

/**
 * limit-count's view of the counters: one hit of `key` against `limit` per `windowMs`,
 * answered synchronously when the store can (a single process; a worker admitting from
 * its lease), else by a promise.
 */
export interface QuotaCounter {
  hit(key: string, limit: number, windowMs: number): QuotaAnswer | Promise<QuotaAnswer>;
}

/** The store of a single process (unit tests, a gateway run without workers). */
export class LocalCounterStore implements CounterStore, QuotaCounter, KeyMarks, ValueStore {
  constructor(readonly table: CounterTable = new CounterTable()) {}
  incr(key: string, by: number, windowMs: number): Promise<WindowCount> {
    return Promise.resolve(this.table.incr(key, by, windowMs));
  }
  /** Synchronous: the table is right here. Exact: `remaining` is `limit` minus the hits of the window. */
  hit(key: string, limit: number, windowMs: number): QuotaAnswer {
    const r = this.table.incr(key, 1, windowMs);
    return { admitted: r.count <= limit, remaining: Math.max(0, limit - r.count), resetMs: r.resetMs };
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
  mark(key: string, ttlMs: number): Promise<void> {
    return this.table.mark(key, ttlMs) ? Promise.resolve() : Promise.reject(new Error(TOO_MANY_MARKS));
  }
  isMarked(key: string): Promise<boolean> {
    return Promise.resolve(this.table.markLeft(key) > 0);
  }
  getValue(key: string): Promise<number> {
    return Promise.resolve(this.table.values.get(key));
  }
  setValue(key: string, value: number): Promise<void> {
    this.table.values.set(key, value);
    return Promise.resolve();
  }
  addValue(key: string, by: number): Promise<number> {
    return Promise.resolve(this.table.values.add(key, by));
  }
}

