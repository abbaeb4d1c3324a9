/**
 * Counters shared by every worker of a node: the `local` policy of limit-count,
 * limit-req and limit-conn. Workers are separate processes, so the state lives in the
 * primary (src/process/counter-service.ts) and workers reach it over IPC
 * (src/plugins/common/shared-counters.ts). Every operation is applied atomically by the
 * one process that holds the state: two workers never together let through more than
 * a limit allows. A `redis` policy (correct across nodes) would be another
 * implementation of this interface.
 *
 * Times are the store's own clock (the primary's monotonic clock): workers never send
 * theirs, so processes with different clock origins still agree.
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
   */
  acquire(key: string, max: number): Promise<number>;
  /** Gives back one slot taken by `acquire` (fire and forget). */
  release(key: string): void;
}
