/**
 * The counters of limit-count, limit-req and limit-conn. Policy `local`: shared by every
 * worker of a node; workers are separate processes, so the state lives in the primary
 * (src/counters/counter-service.ts) and workers reach it over IPC
 * (src/counters/ipc-store.ts). Policies `redis` and `redis-cluster`: shared by every
 * node, in Redis (src/counters/redis-store.ts). Every operation is applied atomically by
 * the one place that holds the state: two workers (or nodes) never together let through
 * more than a limit allows.
 *
 * Times are the store's own clock (the primary's monotonic clock, or the Redis server's):
 * callers never send theirs, so processes with different clocks still agree.
 */

/** A fixed window's counter after an increment. */
export interface WindowCount {
  /** Hits counted in the current window, this one included. */
  count: number;
  /** Milliseconds until the window closes and the count starts again from zero. */
  resetMs: number;
}

export interface CounterStore {
  /**
   * Fixed window (limit-count): adds `by` to `key`'s counter. The first hit of a window
   * opens it for `windowMs`; hits after it closes open a new one.
   */
  incr(key: string, by: number, windowMs: number): Promise<WindowCount>;
  /**
   * Leaky bucket (limit-req, nginx's limit_req algorithm): a request drains the bucket
   * at `rate` per second and may exceed it by at most `burst` requests. Returns the delay
   * in ms the request should wait to conform to `rate` (0 when within it), or -1 when it
   * is rejected (a rejected request leaves the bucket as it was).
   */
  take(key: string, rate: number, burst: number): Promise<number>;
  /**
   * Concurrency (limit-conn): takes one slot of at most `max`. Returns the number of
   * slots in use, this one included, or -1 when all are taken (nothing is taken then).
   * `ttlMs`: how long the slot may stay taken if it is never released — a store shared by
   * several nodes cannot see that a node died; the node's own stores ignore it (they give
   * back a dead worker's slots when it exits).
   */
  acquire(key: string, max: number, ttlMs?: number): Promise<number>;
  /** Gives back one slot taken by `acquire` (fire and forget). */
  release(key: string): void;
}

/**
 * Marks that expire (jwt-logout's revocation list): a key marked until a time, asked
 * whether it is marked. Same places as the counters (the primary for policy `local`,
 * Redis for the others), so a mark set through one worker or node is seen by all.
 */
export interface KeyMarks {
  /**
   * Marks `key` for `ttlMs` from now (the store's clock). A key already marked for
   * longer keeps its longer mark. Resolves once the mark is stored.
   */
  mark(key: string, ttlMs: number): Promise<void>;
  /** Whether `key` is marked now. */
  isMarked(key: string): Promise<boolean>;
}
