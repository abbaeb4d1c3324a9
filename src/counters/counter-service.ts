import type { Cluster, Worker } from 'node:cluster';
import type { CounterOpsMessage, CounterResultsMessage } from './wire.js';
import {
  OP_ACQUIRE, OP_ADD, OP_FIELDS, OP_GET, OP_INCR, OP_LEASE, OP_MARK, OP_MARKED, OP_PREFETCH, OP_RELEASE, OP_RETURN, OP_SET, OP_TAKE, RECLAIM_ID,
} from './wire.js';
import { CounterTable, NEEDS_RECLAIM, SWEEP_MS, TOO_MANY_MARKS } from './counter-table.js';

// The primary's side of the node's shared counters: answers the workers' `counter-ops`
// messages (wire.ts) from one CounterTable, and reclaims unused quota leases before
// anyone is refused.

/** How long the primary waits for workers to give leases back before answering without them. */
const RECLAIM_TIMEOUT_MS = 250;

function ignoreSendError(): void { /* the worker is going away; its exit releases its slots */ }

function isNum(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

type Result = number | string | null;

/** A lease request waiting for a reclaim of its key to finish. */
interface Queued { owner: number; id: number; limit: number; windowMs: number; want: number; prefetch: boolean }

interface Reclaim {
  gen: number;
  /** Holders that have not answered yet. */
  waiting: Set<number>;
  queue: Queued[];
  timer: NodeJS.Timeout;
}

export interface CounterServiceOptions {
  /** How many workers share the counters (sizes the leases); 1 when not given. */
  workers?: () => number;
  /** Sends a message to one worker (reclaim requests, deferred answers). */
  send?: (owner: number, msg: CounterResultsMessage) => void;
  reclaimTimeoutMs?: number;
}

/**
 * Answers the workers' `counter-ops` messages from one CounterTable.
 *
 * Leases: when a key's pool is empty but other workers may hold unused tokens, the
 * request is not refused yet. The service asks those workers for their unused tokens
 * (a RECLAIM result tuple), holds every lease request for that key meanwhile, and once
 * each has answered (or RECLAIM_TIMEOUT_MS passed: a worker that does not answer keeps
 * its tokens, counted as used) decides the held requests in their order. A request is
 * refused only when the pool is empty and no worker holds anything: quota is never
 * stranded in a lease while someone is refused (except in a worker that died or hung).
 */
export class CounterService {
  private readonly reclaims = new Map<string, Reclaim>();
  private workers: () => number;
  private send: (owner: number, msg: CounterResultsMessage) => void;
  private readonly reclaimTimeoutMs: number;

  constructor(readonly table: CounterTable = new CounterTable(), opts: CounterServiceOptions = {}) {
    this.workers = opts.workers ?? (() => 1);
    this.send = opts.send ?? (() => undefined);
    this.reclaimTimeoutMs = opts.reclaimTimeoutMs ?? RECLAIM_TIMEOUT_MS;
  }

  /** Applies one message's operations for `owner`; returns the flat results to send back (may be empty). */
  handle(owner: number, ops: readonly unknown[]): Result[] {
    const out: Result[] = [];
    for (let i = 0; i + OP_FIELDS <= ops.length; i += OP_FIELDS) {
      const id = ops[i];
      const op = ops[i + 1];
      const key = ops[i + 2];
      const a = ops[i + 3];
      const b = ops[i + 4];
      const c = ops[i + 5];
      if (!isNum(id)) continue;
      if (typeof key !== 'string' || !isNum(a) || !isNum(b) || !isNum(c)) {
        if (id > 0) out.push(id, null, 'malformed counter operation', 0, 0, 0);
        continue;
      }
      switch (op) {
        case OP_INCR: {
          const r = this.table.incr(key, a, b);
          out.push(id, r.count, r.resetMs, 0, 0, 0);
          break;
        }
        case OP_TAKE:
          out.push(id, this.table.take(key, a, b), 0, 0, 0, 0);
          break;
        case OP_ACQUIRE:
          out.push(id, this.table.acquire(key, a, owner), 0, 0, 0, 0);
          break;
        case OP_RELEASE:
          this.table.release(key, owner);
          break;
        case OP_LEASE:
        case OP_PREFETCH:
          this.lease(out, { owner, id, limit: a, windowMs: b, want: c, prefetch: op === OP_PREFETCH }, key);
          break;
        case OP_MARK:
          if (this.table.mark(key, a)) out.push(id, 1, 0, 0, 0, 0);
          else out.push(id, null, TOO_MANY_MARKS, 0, 0, 0);
          break;
        case OP_MARKED:
          out.push(id, this.table.markLeft(key), 0, 0, 0, 0);
          break;
        case OP_GET:
        case OP_SET:
        case OP_ADD:
          this.value(out, id, op, key, a);
          break;
        case OP_RETURN:
          this.table.giveBack(key, b, a, owner);
          this.answered(key, owner);
          break;
        default:
          if (id > 0) out.push(id, null, `unknown counter operation ${String(op)}`, 0, 0, 0);
      }
    }
    return out;
  }

  /** A plain value's operation; the book is a file in the primary, so a failed write is reported, never assumed done. */
  private value(out: Result[], id: number, op: number, key: string, a: number): void {
    const values = this.table.values;
    try {
      const v = op === OP_GET ? values.get(key) : op === OP_ADD ? values.add(key, a) : (values.set(key, a), a);
      out.push(id, v, 0, 0, 0, 0);
    } catch (err) {
      out.push(id, null, `the node's value book failed: ${(err as Error).message}`, 0, 0, 0);
    }
  }

  /** Decides one lease request into `out`, or holds it while a reclaim of its key runs. */
  private lease(out: Result[], q: Queued, key: string): void {
    const running = this.reclaims.get(key);
    if (running !== undefined) {
      running.queue.push(q);
      return;
    }
    const g = this.table.lease(key, q.limit, q.windowMs, q.want, q.owner, this.workers(), q.prefetch);
    if (g !== NEEDS_RECLAIM) {
      out.push(q.id, g.granted, g.resetMs, g.pool, g.gen, g.sole ? 1 : 0);
      return;
    }
    this.startReclaim(key, [q]);
  }

  private startReclaim(key: string, queue: Queued[]): void {
    const h = this.table.holders(key)!;
    const r: Reclaim = {
      gen: h.gen,
      waiting: new Set(h.owners),
      queue,
      timer: setTimeout(() => this.finishReclaim(key, true), this.reclaimTimeoutMs),
    };
    r.timer.unref?.();
    this.reclaims.set(key, r);
    for (const owner of h.owners) this.send(owner, { type: 'counter-results', results: [RECLAIM_ID, key, h.gen, 0, 0, 0] });
  }

  /** `owner` answered (or can no longer answer) the reclaim of `key`. */
  private answered(key: string, owner: number): void {
    const r = this.reclaims.get(key);
    if (r === undefined || !r.waiting.delete(owner)) return;
    if (r.waiting.size === 0) this.finishReclaim(key, false);
  }

  /** Decides the held requests in order; one that finds the pool empty again while leases are out starts the next round. */
  private finishReclaim(key: string, timedOut: boolean): void {
    const r = this.reclaims.get(key);
    if (r === undefined) return;
    clearTimeout(r.timer);
    this.reclaims.delete(key);
    // holders that did not answer in time keep their tokens; they count as used from now on
    if (timedOut) for (const owner of r.waiting) this.table.giveBack(key, r.gen, 0, owner);
    const byOwner = new Map<number, Result[]>();
    for (let i = 0; i < r.queue.length; i++) {
      const q = r.queue[i]!;
      const g = this.table.lease(key, q.limit, q.windowMs, q.want, q.owner, this.workers(), q.prefetch);
      if (g === NEEDS_RECLAIM) {
        this.startReclaim(key, r.queue.slice(i));
        break;
      }
      let out = byOwner.get(q.owner);
      if (out === undefined) byOwner.set(q.owner, (out = []));
      out.push(q.id, g.granted, g.resetMs, g.pool, g.gen, g.sole ? 1 : 0);
    }
    for (const [owner, results] of byOwner) this.send(owner, { type: 'counter-results', results });
  }

  /** A worker is gone: its limit-conn slots are given back, its unused lease tokens are lost. */
  ownerGone(owner: number): number {
    this.table.forgetHolder(owner);
    for (const [key, r] of [...this.reclaims]) {
      r.queue = r.queue.filter((q) => q.owner !== owner);
      this.answered(key, owner);
    }
    return this.table.releaseOwner(owner);
  }

  /** Serves every worker of `cluster` (the primary calls this once). */
  attach(cluster: Pick<Cluster, 'on'> & { workers?: Cluster['workers'] }): void {
    this.workers = () => {
      let n = 0;
      for (const id in cluster.workers ?? {}) if (cluster.workers![id] !== undefined) n++;
      return Math.max(1, n);
    };
    const deliver = (worker: Worker | undefined, msg: CounterResultsMessage): void => {
      // with a callback a channel closing meanwhile is not an 'error' event on the worker
      if (worker !== undefined && worker.isConnected()) worker.send(msg, undefined, ignoreSendError);
    };
    this.send = (owner, msg) => deliver(cluster.workers?.[owner], msg);
    cluster.on('message', (worker: Worker, msg: unknown) => {
      const m = msg as Partial<CounterOpsMessage> | null;
      if (m === null || typeof m !== 'object' || m.type !== 'counter-ops' || !Array.isArray(m.ops)) return;
      const results = this.handle(worker.id, m.ops);
      if (results.length > 0) deliver(worker, { type: 'counter-results', results } satisfies CounterResultsMessage);
    });
    cluster.on('exit', (worker: Worker) => { this.ownerGone(worker.id); });
    setInterval(() => this.table.sweep(), SWEEP_MS).unref();
  }
}
