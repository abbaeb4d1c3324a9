import { randomBytes } from 'node:crypto';
import type { CounterStore, KeyMarks, WindowCount } from '../contracts/counter-store.js';
import type { QuotaAnswer, QuotaCounter } from './counter-table.js';
import {
  reachable, releaseConnection, shareConnection, targetId, type CountingClient, type RedisConnection, type RedisTarget,
} from './redis-connections.js';

// The counters of cluster mode (policies `redis` and `redis-cluster` of limit-count,
// limit-req and limit-conn): kept in Redis, so every gateway node counts the same keys
// and a limit of N lets N requests through across all nodes. Each operation is one
// server-side script on one key (redis-scripts.ts), atomic on the server; the keys are
// the plugins' counter identities (owner, config version, limit key) and carry nothing
// of the node that sends them.
//
// No operation waits longer than the target's timeout (`redis_timeout`): a slow or hung
// server fails it after that, and one the client already knows to be down (it is
// reconnecting) fails it at once; the plugin then applies its `allow_degradation`.
//
// One store per plugin instance, sharing the connection of its target with every other
// store of the same target in the process (redis-connections.ts). A store takes its
// share on its first operation and gives it back when it is garbage collected (its
// plugin instance was replaced by a config change) or closed.

/** How long a limit-conn slot lives when the caller does not say (APISIX's `key_ttl` default, 3600 s). */
export const DEFAULT_SLOT_TTL_MS = 3_600_000;

const KEY_PREFIX = 'gatehouse:';

/** Gives back the connection share of a store that was collected without being closed. */
const shares = new FinalizationRegistry<string>((id) => releaseConnection(id));

/** Unique per process, so two nodes never name a slot alike. */
const PROCESS_TAG = randomBytes(9).toString('base64url');
let slotSeq = 0;

export class RedisCounterStore implements CounterStore, QuotaCounter, KeyMarks {
  private readonly id: string;
  private conn: RedisConnection | undefined;
  private closed = false;
  /** limit-conn slots this store holds, by key: which member to remove on release. */
  private readonly slots = new Map<string, string[]>();

  constructor(private readonly target: RedisTarget) {
    this.id = targetId(target);
  }

  incr(key: string, by: number, windowMs: number): Promise<WindowCount> {
    return this.run('a fixed window', (c) => c.client.gatehouseWindow(KEY_PREFIX + 'window:' + key, by, Math.max(1, Math.round(windowMs))))
      .then(([count, resetMs]) => ({ count: Number(count), resetMs: Number(resetMs) }));
  }

  /** limit-count's hit: counted in Redis on every request (no lease: other nodes draw from the same count). */
  hit(key: string, limit: number, windowMs: number): Promise<QuotaAnswer> {
    return this.incr(key, 1, windowMs).then((r) => ({
      admitted: r.count <= limit, remaining: Math.max(0, limit - r.count), resetMs: r.resetMs,
    }));
  }

  /**
   * Higress cluster-key-rate-limit's window on `redisKey` exactly as given (no prefix of
   * ours: the key layout is Higress's). Resolves the count (it stops one past
   * `threshold`) and the seconds left in the window.
   */
  hitThreshold(redisKey: string, threshold: number, windowSeconds: number): Promise<{ count: number; ttlSeconds: number }> {
    return this.run('a fixed window', (c) => c.client.gatehouseThreshold(redisKey, threshold, windowSeconds))
      .then(([count, ttl]) => ({ count: Number(count), ttlSeconds: Number(ttl) }));
  }

  /**
   * Higress ai-token-ratelimit's window on `redisKey` as given: `by` tokens added (0: only
   * read) while the count is not past `threshold`. Resolves the count and the seconds left.
   */
  addTokens(redisKey: string, threshold: number, windowSeconds: number, by: number): Promise<{ count: number; ttlSeconds: number }> {
    return this.run('a token window', (c) => c.client.gatehouseTokens(redisKey, threshold, windowSeconds, by))
      .then(([count, ttl]) => ({ count: Number(count), ttlSeconds: Number(ttl) }));
  }

  take(key: string, rate: number, burst: number): Promise<number> {
    return this.run('a leaky bucket', (c) => c.client.gatehouseBucket(KEY_PREFIX + 'bucket:' + key, rate, burst))
      .then((delay) => Number(delay));
  }

  /**
   * Takes a slot that Redis gives back by itself after `ttlMs` (limit-conn's `key_ttl`)
   * should this process never release it (it died). A slot whose answer did not come in
   * time is released at once: the script may still run after the request gave up on it.
   */
  acquire(key: string, max: number, ttlMs = DEFAULT_SLOT_TTL_MS): Promise<number> {
    const slot = `${PROCESS_TAG}:${++slotSeq}`;
    const redisKey = KEY_PREFIX + 'slots:' + key;
    return this.run('a concurrency slot', (c) => c.client.gatehouseAcquire(redisKey, max, Math.max(1, Math.round(ttlMs)), slot))
      .then((n) => {
        if (n >= 0) {
          let held = this.slots.get(key);
          if (held === undefined) this.slots.set(key, (held = []));
          held.push(slot);
        }
        return Number(n);
      }, (err: unknown) => {
        this.forget(redisKey, slot);
        throw err;
      });
  }

  /** Gives back one of this store's slots of `key`; when Redis cannot be told, the slot expires by its TTL. */
  release(key: string): void {
    const held = this.slots.get(key);
    const slot = held?.pop();
    if (slot === undefined) return;
    if (held!.length === 0) this.slots.delete(key);
    this.forget(KEY_PREFIX + 'slots:' + key, slot);
  }

  mark(key: string, ttlMs: number): Promise<void> {
    return this.run('a mark', (c) => c.client.gatehouseMark(KEY_PREFIX + 'mark:' + key, Math.max(1, Math.round(ttlMs))))
      .then(() => undefined);
  }

  isMarked(key: string): Promise<boolean> {
    return this.run('a mark lookup', (c) => c.client.exists(KEY_PREFIX + 'mark:' + key)).then((n) => n > 0);
  }

  /**
   * Plain commands on keys exactly as given (a plugin's own key layout: Higress's
   * ai-quota keys), bounded by the target's timeout like the counter operations.
   */
  command<T>(what: string, op: (client: CountingClient) => Promise<T>): Promise<T> {
    return this.run(what, (c) => op(c.client));
  }

  /** Gives the connection share back now (tests, shutdown). Operations after it fail. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.conn === undefined) return;
    shares.unregister(this);
    this.conn = undefined;
    releaseConnection(this.id);
  }

  private forget(redisKey: string, slot: string): void {
    const conn = this.conn;
    if (conn === undefined || !reachable(conn)) return;
    conn.client.zrem(redisKey, slot).catch(() => { /* expires by its TTL */ });
  }

  private connection(): RedisConnection {
    if (this.conn === undefined) {
      if (this.closed) throw new Error('the redis counter store is closed');
      this.conn = shareConnection(this.id, this.target);
      shares.register(this, this.id, this);
    }
    return this.conn;
  }

  /** Runs `op`, failing it when the server cannot answer within the timeout. */
  private run<T>(what: string, op: (conn: RedisConnection) => Promise<T>): Promise<T> {
    let conn: RedisConnection;
    try {
      conn = this.connection();
    } catch (err) {
      return Promise.reject(err);
    }
    if (!reachable(conn)) {
      return Promise.reject(new Error(`redis is unreachable: ${conn.lastError ?? conn.client.status}`));
    }
    const timeoutMs = this.target.timeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis did not answer ${what} within ${timeoutMs} ms`)), timeoutMs);
      op(conn).then((v) => {
        clearTimeout(timer);
        resolve(v);
      }, (err: Error) => {
        clearTimeout(timer);
        reject(new Error(`redis failed ${what}: ${err.message}`));
      });
    });
  }
}
