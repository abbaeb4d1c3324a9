import cluster from 'node:cluster';
import type { CounterStore } from '../contracts/counter-store.js';
import { LocalCounterStore, type QuotaAnswer, type QuotaCounter } from './counter-table.js';
import { IpcCounterStore, processChannel } from './ipc-store.js';
import type { ValueStore } from './value-book.js';

// The counters subsystem as plugins see it (limit-count, limit-req, limit-conn). Policy
// `local`: one CounterStore per process, in a cluster worker the node-wide store of the
// primary reached over IPC (ipc-store.ts ↔ counter-service.ts), otherwise a local one.
// Policies `redis` and `redis-cluster`: a RedisCounterStore per plugin instance, sharing
// one connection per target (redis-store.ts). Every implementation passes
// test/contract/counter-store.contract.ts.

export type { QuotaAnswer, QuotaCounter };
export type { ValueStore };
export { RedisCounterStore, DEFAULT_SLOT_TTL_MS } from './redis-store.js';
export type { RedisTarget, RedisNodeTarget, RedisClusterTarget } from './redis-connections.js';

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

/** The node's plain values (ai-quota without `redis`): kept with the counters, in the primary's value book. */
export function valueStore(): ValueStore {
  const store = counterStore() as CounterStore & Partial<ValueStore>;
  if (typeof store.getValue !== 'function') throw new Error('this counter store keeps no values');
  return store as ValueStore;
}

/**
 * One hit of limit-count's fixed window through `store` (the process's by default):
 * synchronous where the store can answer at once (see QuotaCounter), else a promise. A
 * store without `hit` (a custom CounterStore) is counted with `incr`, as before leases.
 */
export function hitWindow(key: string, limit: number, windowMs: number,
  store: CounterStore & Partial<QuotaCounter> = counterStore()): QuotaAnswer | Promise<QuotaAnswer> {
  if (typeof store.hit === 'function') return store.hit(key, limit, windowMs);
  return incrAsHit(store, key, limit, windowMs);
}

function incrAsHit(store: CounterStore, key: string, limit: number, windowMs: number): Promise<QuotaAnswer> {
  return store.incr(key, 1, windowMs).then((r) => ({
    admitted: r.count <= limit, remaining: Math.max(0, limit - r.count), resetMs: r.resetMs,
  }));
}

/** Replaces the process's store (unit tests: a LocalCounterStore on an injected clock); undefined restores the default. */
export function setCounterStore(store: CounterStore | undefined): void {
  current = store;
}
