// The counters limit-count, limit-req and limit-conn share across the workers of a node
// (policy `local`). In a cluster worker they live in the primary's CounterService and
// are reached over the IPC channel; in a single process (unit tests) they are local.
//
// The client is built for the hot path: each operation gets a numeric id and one entry
// in one pending map; the operations of a tick go out as one message and come back as
// one; a single `message` listener and a single sweeper timer serve every request (no
// per-request listeners or timers). An operation the primary has not answered within
// `timeoutMs` fails, and the plugin applies its `allow_degradation`.
import cluster from 'node:cluster';
import type { CounterStore, WindowCount } from '../../contracts/counter-store.js';
import type { CounterOpsMessage, CounterResultsMessage } from '../../process/messages.js';
import {
  LocalCounterStore, OP_ACQUIRE, OP_FIELDS, OP_INCR, OP_RELEASE, OP_TAKE, RESULT_FIELDS,
} from '../../process/counter-service.js';

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

export class IpcCounterStore implements CounterStore {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private queue: (number | string)[] = [];
  private scheduled = false;
  private sweeper: NodeJS.Timeout | undefined;

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
    return this.call(OP_INCR, key, by, windowMs) as Promise<WindowCount>;
  }

  take(key: string, rate: number, burst: number): Promise<number> {
    return this.call(OP_TAKE, key, rate, burst) as Promise<number>;
  }

  acquire(key: string, max: number): Promise<number> {
    return this.call(OP_ACQUIRE, key, max, 0) as Promise<number>;
  }

  release(key: string): void {
    this.enqueue(0, OP_RELEASE, key, 0, 0);
  }

  /** Operations sent and not answered yet (tests). */
  get inFlight(): number {
    return this.pending.size;
  }

  private call(op: number, key: string, a: number, b: number): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { op, at: this.now(), resolve, reject });
      this.enqueue(id, op, key, a, b);
      this.sweeper ??= setInterval(() => this.expire(), Math.max(50, this.timeoutMs / 4)).unref();
    });
  }

  private enqueue(id: number, op: number, key: string, a: number, b: number): void {
    this.queue.push(id, op, key, a, b);
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
      const p = this.pending.get(id);
      if (p === undefined) continue; // timed out meanwhile
      this.pending.delete(id);
      const x = results[i + 1];
      const y = results[i + 2];
      if (typeof x !== 'number') p.reject(new Error(typeof y === 'string' ? y : 'counter operation failed'));
      else if (p.op === OP_INCR) p.resolve({ count: x, resetMs: y as number } satisfies WindowCount);
      else p.resolve(x);
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
function processChannel(): CounterChannel {
  return {
    get connected() { return process.connected; },
    send(msg) {
      process.send!(msg);
    },
    onMessage(listener) { process.on('message', listener); },
    onDisconnect(listener) { process.once('disconnect', listener); },
  };
}

let current: CounterStore | undefined;

/**
 * The process's counter store: the primary's (over IPC) in a cluster worker, a local
 * one otherwise. Created on first use, so loading a plugin (the primary does, to
 * validate configs) opens nothing.
 */
export function counterStore(): CounterStore {
  return current ??= cluster.isWorker && typeof process.send === 'function'
    ? new IpcCounterStore(processChannel())
    : new LocalCounterStore();
}

/** Replaces the process's store (unit tests: a LocalCounterStore on an injected clock); undefined restores the default. */
export function setCounterStore(store: CounterStore | undefined): void {
  current = store;
}
