// ai-cache's `redis` store: the answer as a plain string under the key (Higress's layout:
// `cacheKeyPrefix` + question), `SET … EX cacheTTL`. The connection is the process's shared
// one for the target (counters/redis-connections.ts), opened by the first lookup (the
// primary prepares configs only to check them) and kept for the process's life: a cache
// target is typically one server that every route names. A lookup that fails or overruns
// the timeout is a miss; a store that fails is dropped. Either way the error is counted.
import { reachable, shareConnection, targetId, type RedisConnection, type RedisNodeTarget } from '../../counters/redis-connections.js';
import type { AnswerStore } from './answer-store.js';

const held = new Map<string, RedisConnection>();

export class RedisAnswerStore implements AnswerStore {
  private readonly id: string;

  constructor(private readonly target: RedisNodeTarget, private readonly failed: (err: Error) => void) {
    this.id = targetId(target);
  }

  private connection(): RedisConnection {
    let conn = held.get(this.id);
    if (conn === undefined) held.set(this.id, (conn = shareConnection(this.id, this.target)));
    return conn;
  }

  async get(key: string): Promise<string | undefined> {
    try {
      const conn = this.connection();
      if (!reachable(conn)) throw new Error(`redis not reachable: ${conn.lastError ?? conn.client.status}`);
      const answer = await withTimeout(conn.client.get(key), this.target.timeoutMs);
      return answer ?? undefined;
    } catch (err) {
      this.failed(err as Error);
      return undefined;
    }
  }

  async set(key: string, answer: string, ttlSeconds: number): Promise<void> {
    try {
      const conn = this.connection();
      const op = ttlSeconds > 0 ? conn.client.set(key, answer, 'EX', ttlSeconds) : conn.client.set(key, answer);
      await withTimeout(op, this.target.timeoutMs);
    } catch (err) {
      this.failed(err as Error);
    }
  }
}

function withTimeout<T>(op: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`redis gave no answer within ${ms} ms`)), ms);
  });
  return Promise.race([op, late]).finally(() => clearTimeout(timer));
}
