// The cache over the node's IPC channel: a worker's IpcLink and the primary's side
// (attachCacheService), in the manner of counters/ipc-store.ts ↔ counter-service.ts.
//
// Messages (JSON): worker → primary `{type: 'proxy-cache', id, op, zone, key, ...}`, ops
// get, set (record), stored (size, expires), touch, purge, lock, unlock (filled), ack
// (seq); an op with an id > 0 is answered by `{type: 'proxy-cache-reply', id, value}`.
// primary → workers `{type: 'proxy-cache-invalidate', zone, keys, seq}`: drop these
// keys, and when seq > 0 acknowledge (a PURGE is answered once every worker did).
import type { Cluster, Worker } from 'node:cluster';
import { lockAnswer, type LockAnswer, type ServiceLink } from './access.js';
import { fromWire, toWire, type CacheRecord } from './record.js';
import { LOCK_MS, type CacheService } from './service.js';

/** How long a worker waits for an answer before it treats the cache as missing (bounded; the request goes on). */
const ANSWER_MS = 2_000;
/** How long a PURGE waits for the other workers to drop their copies. */
const ACK_MS = 500;

export interface CacheChannel {
  send(msg: unknown): void;
  onMessage(fn: (msg: unknown) => void): void;
}

interface Pending { resolve(v: unknown): void; timer: NodeJS.Timeout; fallback: unknown }

export class IpcLink implements ServiceLink {
  readonly local = false;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private invalidated: (zone: string, keys: readonly string[]) => void = () => undefined;

  constructor(private readonly channel: CacheChannel) {
    channel.onMessage((m) => {
      const msg = m as { type?: string; id?: number; value?: unknown; zone?: string; keys?: string[]; seq?: number } | null;
      if (msg === null || typeof msg !== 'object') return;
      if (msg.type === 'proxy-cache-reply' && typeof msg.id === 'number') {
        const p = this.pending.get(msg.id);
        if (p === undefined) return;
        this.pending.delete(msg.id);
        clearTimeout(p.timer);
        p.resolve(msg.value);
      } else if (msg.type === 'proxy-cache-invalidate' && typeof msg.zone === 'string' && Array.isArray(msg.keys)) {
        this.invalidated(msg.zone, msg.keys);
        if (typeof msg.seq === 'number' && msg.seq > 0) this.post({ op: 'ack', seq: msg.seq });
      }
    });
  }

  private post(fields: Record<string, unknown>): void {
    try {
      this.channel.send({ type: 'proxy-cache', id: 0, ...fields });
    } catch {
      // the primary is going away; the worker exits with it
    }
  }

  private ask(fields: Record<string, unknown>, fallback: unknown, waitMs = ANSWER_MS): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(fallback);
      }, waitMs);
      timer.unref?.();
      this.pending.set(id, { resolve, timer, fallback });
      try {
        this.channel.send({ type: 'proxy-cache', id, ...fields });
      } catch {
        this.pending.delete(id);
        clearTimeout(timer);
        resolve(fallback);
      }
    });
  }

  get(zone: string, key: string): Promise<CacheRecord | undefined> {
    return this.ask({ op: 'get', zone, key }, undefined).then(fromWire);
  }

  set(zone: string, key: string, record: CacheRecord): void {
    this.post({ op: 'set', zone, key, record: toWire(record) });
  }

  stored(zone: string, key: string, size: number, expires: number): void {
    this.post({ op: 'stored', zone, key, size, expires });
  }

  touch(zone: string, key: string): void {
    this.post({ op: 'touch', zone, key });
  }

  purge(zone: string, cacheKey: string): Promise<boolean> {
    return this.ask({ op: 'purge', zone, key: cacheKey }, false).then((v) => v === true);
  }

  lock(zone: string, key: string): Promise<LockAnswer> {
    return this.ask({ op: 'lock', zone, key }, 'open', LOCK_MS + ANSWER_MS) as Promise<LockAnswer>;
  }

  unlock(zone: string, key: string, filled: boolean): void {
    this.post({ op: 'unlock', zone, key, filled });
  }

  onInvalidate(fn: (zone: string, keys: readonly string[]) => void): void {
    this.invalidated = fn;
  }
}

/** A worker's channel: its `process` IPC. */
export function processCacheChannel(): CacheChannel {
  return {
    send: (msg) => {
      if (process.connected) process.send!(msg as object);
    },
    onMessage: (fn) => { process.on('message', fn); },
  };
}

type ClusterLike = Pick<Cluster, 'on'> & { workers?: Cluster['workers'] };

/** Serves every worker of `cluster` from `service` (the primary calls this once). */
export function attachCacheService(service: CacheService, cluster: ClusterLike): void {
  const deliver = (worker: Worker | undefined, msg: unknown): void => {
    if (worker !== undefined && worker.isConnected()) worker.send(msg as object, undefined, () => undefined);
  };
  const acks = new Map<number, { left: Set<number>; done: () => void }>();
  let seq = 0;
  service.invalidate = (except, zone, keys) => {
    const targets = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.id !== except && w.isConnected());
    if (targets.length === 0) return Promise.resolve();
    const mine = ++seq;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => finish(), ACK_MS);
      const finish = (): void => {
        clearTimeout(timer);
        acks.delete(mine);
        resolve();
      };
      acks.set(mine, { left: new Set(targets.map((w) => w.id)), done: finish });
      for (const w of targets) deliver(w, { type: 'proxy-cache-invalidate', zone, keys, seq: mine });
    });
  };
  cluster.on('message', (worker: Worker, m: unknown) => {
    const msg = m as { type?: string; id?: number; op?: string; zone?: string; key?: string; [k: string]: unknown } | null;
    if (msg === null || typeof msg !== 'object' || msg.type !== 'proxy-cache') return;
    const reply = (value: unknown): void => {
      if (typeof msg.id === 'number' && msg.id > 0) deliver(worker, { type: 'proxy-cache-reply', id: msg.id, value });
    };
    const zone = String(msg.zone);
    const key = String(msg.key);
    switch (msg.op) {
      case 'get': {
        const r = service.get(zone, key);
        reply(r === undefined ? null : toWire(r));
        return;
      }
      case 'set': {
        const r = fromWire(msg.record);
        if (r !== undefined) service.set(worker.id, zone, key, r);
        return;
      }
      case 'stored':
        service.stored(zone, key, Number(msg.size), Number(msg.expires));
        return;
      case 'touch':
        service.touch(zone, key);
        return;
      case 'purge':
        void service.purge(worker.id, zone, key).then(reply, () => reply(false));
        return;
      case 'lock': {
        const r = lockAnswer(service.lock(worker.id, zone, key));
        if (typeof r === 'string') reply(r);
        else void r.then(reply);
        return;
      }
      case 'unlock':
        service.unlock(worker.id, zone, key, msg.filled === true);
        return;
      case 'ack': {
        const a = acks.get(Number(msg.seq));
        if (a !== undefined && a.left.delete(worker.id) && a.left.size === 0) a.done();
        return;
      }
    }
  });
  cluster.on('exit', (worker: Worker) => service.ownerGone(worker.id));
}
