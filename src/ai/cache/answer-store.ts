// Where ai-cache keeps answers. `memory`: the node's one LRU table, kept by the primary and
// reached over IPC from the workers (as counters/ipc-store.ts and proxy-cache/ipc.ts do), so a
// question answered through one worker is a hit on every other; in a process without a
// primary (unit tests, a single process) the table is local. `redis`: one server, shared by
// every node (redis-answer-store.ts).
import cluster from 'node:cluster';
import type { Cluster, Worker } from 'node:cluster';

export interface AnswerStore {
  /** The answer stored under `key`, or undefined (missing, expired, or the store not answering in time). */
  get(key: string): Promise<string | undefined>;
  /** Stores `answer` for `ttlSeconds` (0: until evicted). */
  set(key: string, answer: string, ttlSeconds: number): Promise<void>;
}

/** The node table's bounds: the least recently used answers go first when either is reached. */
export const MEMORY_MAX_ENTRIES = 10_000;
export const MEMORY_MAX_CHARS = 32 * 1024 * 1024;

interface Entry { answer: string; expiresAt: number }

/** An LRU table bounded by entries and by characters (keys and answers), with per-entry expiry. */
export class MemoryAnswerStore implements AnswerStore {
  private readonly entries = new Map<string, Entry>();
  private chars = 0;

  constructor(private readonly maxEntries = MEMORY_MAX_ENTRIES, private readonly maxChars = MEMORY_MAX_CHARS,
    private readonly now: () => number = Date.now) {}

  get size(): number {
    return this.entries.size;
  }

  lookup(key: string): string | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    this.entries.delete(key);
    if (e.expiresAt !== 0 && e.expiresAt <= this.now()) {
      this.chars -= key.length + e.answer.length;
      return undefined;
    }
    this.entries.set(key, e); // most recently used goes last
    return e.answer;
  }

  store(key: string, answer: string, ttlSeconds: number): void {
    const size = key.length + answer.length;
    if (size > this.maxChars) return;
    const old = this.entries.get(key);
    if (old !== undefined) {
      this.entries.delete(key);
      this.chars -= key.length + old.answer.length;
    }
    this.entries.set(key, { answer, expiresAt: ttlSeconds > 0 ? this.now() + ttlSeconds * 1000 : 0 });
    this.chars += size;
    for (const [k, e] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.chars <= this.maxChars) break;
      this.entries.delete(k);
      this.chars -= k.length + e.answer.length;
    }
  }

  get(key: string): Promise<string | undefined> {
    return Promise.resolve(this.lookup(key));
  }

  set(key: string, answer: string, ttlSeconds: number): Promise<void> {
    this.store(key, answer, ttlSeconds);
    return Promise.resolve();
  }
}

/** How long a worker waits for the primary's answer before counting a miss. */
const ANSWER_MS = 1_000;

interface Channel {
  send(msg: unknown): void;
  onMessage(fn: (msg: unknown) => void): void;
}

/** A worker's view of the primary's table. */
export class IpcAnswerStore implements AnswerStore {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: string | undefined): void; timer: NodeJS.Timeout }>();

  constructor(private readonly channel: Channel) {
    channel.onMessage((m) => {
      const msg = m as { type?: string; id?: number; answer?: unknown } | null;
      if (msg === null || typeof msg !== 'object' || msg.type !== 'ai-cache-reply' || typeof msg.id !== 'number') return;
      const p = this.pending.get(msg.id);
      if (p === undefined) return;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      p.resolve(typeof msg.answer === 'string' ? msg.answer : undefined);
    });
  }

  get(key: string): Promise<string | undefined> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(undefined);
      }, ANSWER_MS);
      timer.unref?.();
      this.pending.set(id, { resolve, timer });
      if (!this.post({ op: 'get', id, key })) {
        this.pending.delete(id);
        clearTimeout(timer);
        resolve(undefined);
      }
    });
  }

  set(key: string, answer: string, ttlSeconds: number): Promise<void> {
    this.post({ op: 'set', key, answer, ttl: ttlSeconds });
    return Promise.resolve();
  }

  private post(fields: Record<string, unknown>): boolean {
    try {
      this.channel.send({ type: 'ai-cache', ...fields });
      return true;
    } catch {
      return false; // the primary is going away; the worker exits with it
    }
  }
}

let nodeStore: AnswerStore | undefined;

/** The node's memory table: the primary's over IPC in a cluster worker, a local one otherwise. */
export function memoryAnswerStore(): AnswerStore {
  return nodeStore ??= cluster.isWorker && typeof process.send === 'function'
    ? new IpcAnswerStore({
      send: (msg) => { if (process.connected) process.send!(msg as object); },
      onMessage: (fn) => { process.on('message', fn); },
    })
    : new MemoryAnswerStore();
}

/** Serves every worker of `workers` from one table (the primary calls this once). */
export function attachAnswerStoreService(workers: Pick<Cluster, 'on'>, table = new MemoryAnswerStore()): MemoryAnswerStore {
  workers.on('message', (worker: Worker, m: unknown) => {
    const msg = m as { type?: string; op?: string; id?: number; key?: unknown; answer?: unknown; ttl?: unknown } | null;
    if (msg === null || typeof msg !== 'object' || msg.type !== 'ai-cache' || typeof msg.key !== 'string') return;
    if (msg.op === 'get' && typeof msg.id === 'number') {
      if (worker.isConnected()) worker.send({ type: 'ai-cache-reply', id: msg.id, answer: table.lookup(msg.key) }, undefined, () => undefined);
    } else if (msg.op === 'set' && typeof msg.answer === 'string') {
      table.store(msg.key, msg.answer, typeof msg.ttl === 'number' && msg.ttl > 0 ? msg.ttl : 0);
    }
  });
  return table;
}
