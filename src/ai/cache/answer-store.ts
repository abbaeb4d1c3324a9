// Where ai-cache keeps answers, ai-history its histories and mcp-server its sessions (text
// under a key). `memory`: the node's LRU tables, one per plugin (MEMORY_TABLES: one plugin's entries never evict the
// other's), kept by the primary and reached over IPC from the workers (as counters/ipc-store.ts
// and proxy-cache/ipc.ts do), so what was stored through one worker is found through every
// other; in a process without a primary (unit tests, a single process) the tables are local.
// `redis`: one server, shared by every node (redis-answer-store.ts; ai-history's own).
import cluster from 'node:cluster';
import type { Cluster, Worker } from 'node:cluster';

export interface AnswerStore {
  /** The answer stored under `key`, or undefined (missing, expired, or the store not answering in time). */
  get(key: string): Promise<string | undefined>;
  /** Stores `answer` for `ttlSeconds` (0: until evicted). */
  set(key: string, answer: string, ttlSeconds: number): Promise<void>;
}

/** The node's memory tables (the names travel in the IPC messages). */
export const MEMORY_TABLES = ['ai-cache', 'ai-history', 'mcp-server'] as const;
export type MemoryTable = typeof MEMORY_TABLES[number];

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

/**
 * A worker's view of the primary's table. One `message` listener and one unref'd sweeper
 * serve every lookup (no per-request listener or timer): a lookup the primary has not
 * answered within ANSWER_MS is a miss.
 */
export class IpcAnswerStore implements AnswerStore {
  private nextId = 1;
  /** In id order, which is age order: the sweeper stops at the first one still in time. */
  private readonly pending = new Map<number, { resolve(v: string | undefined): void; at: number }>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly channel: Channel, private readonly table: MemoryTable = 'ai-cache') {
    channel.onMessage((m) => {
      const msg = m as { type?: string; table?: string; id?: number; answer?: unknown } | null;
      if (msg === null || typeof msg !== 'object' || msg.type !== 'ai-cache-reply' || typeof msg.id !== 'number') return;
      if ((msg.table ?? 'ai-cache') !== table) return;
      const p = this.pending.get(msg.id);
      if (p === undefined) return;
      this.pending.delete(msg.id);
      p.resolve(typeof msg.answer === 'string' ? msg.answer : undefined);
    });
  }

  get(key: string): Promise<string | undefined> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, { resolve, at: performance.now() });
      this.sweeper ??= setInterval(() => this.expire(), ANSWER_MS / 4).unref();
      if (!this.post({ op: 'get', id, key })) {
        this.pending.delete(id);
        resolve(undefined);
      }
    });
  }

  private expire(): void {
    const limit = performance.now() - ANSWER_MS;
    for (const [id, p] of this.pending) {
      if (p.at > limit) break;
      this.pending.delete(id);
      p.resolve(undefined);
    }
  }

  set(key: string, answer: string, ttlSeconds: number): Promise<void> {
    this.post({ op: 'set', key, answer, ttl: ttlSeconds });
    return Promise.resolve();
  }

  private post(fields: Record<string, unknown>): boolean {
    try {
      this.channel.send({ type: 'ai-cache', table: this.table, ...fields });
      return true;
    } catch {
      return false; // the primary is going away; the worker exits with it
    }
  }
}

const nodeStores = new Map<MemoryTable, AnswerStore>();

/** The node's memory table `table`: the primary's over IPC in a cluster worker, a local one otherwise. */
export function memoryAnswerStore(table: MemoryTable = 'ai-cache'): AnswerStore {
  let store = nodeStores.get(table);
  if (store === undefined) {
    store = cluster.isWorker && typeof process.send === 'function'
      ? new IpcAnswerStore({
        send: (msg) => { if (process.connected) process.send!(msg as object); },
        onMessage: (fn) => { process.on('message', fn); },
      }, table)
      : new MemoryAnswerStore();
    nodeStores.set(table, store);
  }
  return store;
}

/** Serves every worker of `workers` from one table per name (the primary calls this once). */
export function attachAnswerStoreService(workers: Pick<Cluster, 'on'>,
  tables = Object.fromEntries(MEMORY_TABLES.map((name) => [name, new MemoryAnswerStore()])) as Record<MemoryTable, MemoryAnswerStore>,
): Record<MemoryTable, MemoryAnswerStore> {
  workers.on('message', (worker: Worker, m: unknown) => {
    const msg = m as { type?: string; table?: unknown; op?: string; id?: number; key?: unknown; answer?: unknown; ttl?: unknown } | null;
    if (msg === null || typeof msg !== 'object' || msg.type !== 'ai-cache' || typeof msg.key !== 'string') return;
    const name = (msg.table ?? 'ai-cache') as MemoryTable;
    const table = MEMORY_TABLES.includes(name) ? tables[name] : undefined;
    if (table === undefined) return;
    if (msg.op === 'get' && typeof msg.id === 'number') {
      if (worker.isConnected()) worker.send({ type: 'ai-cache-reply', table: name, id: msg.id, answer: table.lookup(msg.key) }, undefined, () => undefined);
    } else if (msg.op === 'set' && typeof msg.answer === 'string') {
      table.store(msg.key, msg.answer, typeof msg.ttl === 'number' && msg.ttl > 0 ? msg.ttl : 0);
    }
  });
  return tables;
}
