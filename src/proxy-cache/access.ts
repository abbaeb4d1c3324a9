// How a worker reaches the node's cache. Memory zones: the records live in the
// CacheService (the primary's, over IPC, when the node has worker processes); the worker
// keeps a small bounded L1 of fresh records it fetched or stored, so a hit costs no round
// trip, and drops a key when the service says it changed (a PURGE waits for that). Disk
// zones: the worker reads and writes the files itself (a hit reads its file directly)
// and tells the service, which owns the index, the size bound and the eviction.
import type { CacheZoneConfig } from '../contracts/node-config.js';
import { expiresAt, type CacheRecord } from './record.js';
import { readCacheFile, writeCacheFile } from './disk-files.js';
import { entryKey } from './keys.js';
import type { CacheService } from './service.js';

/**
 * `held`: this request goes upstream and stores (then unlocks); `filled`: it waited and
 * the holder stored a response (look again); `open`: it waited and nothing was stored, or
 * the wait ran out (go upstream too).
 */
export type LockAnswer = 'held' | 'filled' | 'open';

/** The service as a worker sees it: in-process, or over the IPC channel (ipc.ts). */
export interface ServiceLink {
  /** true: calls are answered in this process (no L1 needed). */
  readonly local: boolean;
  get(zone: string, key: string): CacheRecord | undefined | Promise<CacheRecord | undefined>;
  set(zone: string, key: string, record: CacheRecord): void;
  stored(zone: string, key: string, size: number, expires: number): void;
  touch(zone: string, key: string): void;
  purge(zone: string, cacheKey: string): Promise<boolean>;
  /** The miss lock of a key (see CacheService.lock). */
  lock(zone: string, key: string): LockAnswer | Promise<LockAnswer>;
  unlock(zone: string, key: string, filled: boolean): void;
  onInvalidate(fn: (zone: string, keys: readonly string[]) => void): void;
}

/** The service in this process (a node without worker processes, unit tests). */
export class LocalLink implements ServiceLink {
  readonly local = true;
  constructor(private readonly service: CacheService) {}
  get(zone: string, key: string): CacheRecord | undefined { return this.service.get(zone, key); }
  set(zone: string, key: string, record: CacheRecord): void { this.service.set(0, zone, key, record); }
  stored(zone: string, key: string, size: number, expires: number): void { this.service.stored(zone, key, size, expires); }
  touch(zone: string, key: string): void { this.service.touch(zone, key); }
  purge(zone: string, cacheKey: string): Promise<boolean> { return this.service.purge(0, zone, cacheKey); }
  lock(zone: string, key: string): LockAnswer | Promise<LockAnswer> { return lockAnswer(this.service.lock(0, zone, key)); }
  unlock(zone: string, key: string, filled: boolean): void { this.service.unlock(0, zone, key, filled); }
  onInvalidate(): void { /* nothing is copied in this process */ }
}

/** CacheService.lock's answer as a LockAnswer. */
export function lockAnswer(r: true | Promise<boolean>): LockAnswer | Promise<LockAnswer> {
  return r === true ? 'held' : r.then((filled) => (filled ? 'filled' : 'open'));
}

/** How long a worker remembers that the service has no record for a key (unless told of a change sooner). */
export const ABSENT_MS = 1_000;

/**
 * Fresh records a worker holds, least recently used first, bounded in bytes; and keys the
 * service had nothing for (null, kept ABSENT_MS), so a hit on a key without a Vary index
 * does not ask for the index every time.
 */
class L1 {
  private readonly map = new Map<string, { record: CacheRecord | null; size: number; until: number }>();
  private bytes = 0;
  constructor(private readonly maxBytes: number) {}

  /** The record, null when known absent, undefined when not known here. */
  get(id: string, now: number): CacheRecord | null | undefined {
    const slot = this.map.get(id);
    if (slot === undefined) return undefined;
    if (slot.until <= now) {
      this.delete(id);
      return undefined;
    }
    return slot.record;
  }

  put(id: string, record: CacheRecord | null, now: number): void {
    const size = record === null ? 128 + id.length * 2 : (record.kind === 'entry' ? record.body.length : 0) + 256 + id.length * 2;
    this.delete(id);
    if (size > this.maxBytes / 4) return;
    this.map.set(id, { record, size, until: record === null ? now + ABSENT_MS : expiresAt(record) });
    this.bytes += size;
    for (const k of this.map.keys()) {
      if (this.bytes <= this.maxBytes) break;
      this.delete(k);
    }
  }

  delete(id: string): void {
    const slot = this.map.get(id);
    if (slot === undefined) return;
    this.map.delete(id);
    this.bytes -= slot.size;
  }

  /** Every key of `zone` starting with `prefix`. */
  deletePrefix(zone: string, prefix: string): void {
    const start = `${zone}\0${prefix}`;
    for (const k of [...this.map.keys()]) if (k.startsWith(start)) this.delete(k);
  }
}

/** A worker's L1 holds at most this much (or a quarter of the zone's memory_size, whichever is less). */
export const L1_MAX_BYTES = 16 * 1024 * 1024;

export class CacheAccess {
  private readonly l1 = new Map<string, L1>();
  /**
   * Counts the service's invalidations: an answer that left the service before one of them
   * may be out of date (a reply and an invalidation can be handled in either order here), so
   * it is used but not kept.
   */
  private invalidations = 0;

  constructor(readonly link: ServiceLink, zones: readonly CacheZoneConfig[]) {
    for (const z of zones) if (z.disk_path === undefined) this.l1.set(z.name, new L1(Math.min(L1_MAX_BYTES, z.memory_size / 4)));
    link.onInvalidate((zone, keys) => {
      this.invalidations++;
      const l1 = this.l1.get(zone);
      if (l1 !== undefined) for (const k of keys) l1.delete(`${zone}\0${k}`);
    });
  }

  /** `key`'s record, fresh or not (undefined: none): synchronous when this worker holds it fresh. */
  lookup(zone: CacheZoneConfig, key: string): CacheRecord | undefined | Promise<CacheRecord | undefined> {
    if (zone.disk_path !== undefined) {
      return readCacheFile(zone, key).then((r) => {
        if (r !== undefined) this.link.touch(zone.name, key);
        return r;
      });
    }
    if (this.link.local) return this.link.get(zone.name, key);
    const id = `${zone.name}\0${key}`;
    const l1 = this.l1.get(zone.name)!;
    const held = l1.get(id, Date.now());
    if (held !== undefined) return held ?? undefined;
    const asked = this.invalidations;
    const got = this.link.get(zone.name, key);
    const keep = (r: CacheRecord | undefined): CacheRecord | undefined => {
      if (this.invalidations !== asked) return r;
      const now = Date.now();
      if (r === undefined) l1.put(id, null, now);
      else if (expiresAt(r) > now) l1.put(id, r, now);
      return r;
    };
    return got instanceof Promise ? got.then(keep) : keep(got);
  }

  /** Stores `record` as `key` (a disk zone's file is written first); rejects when the write fails. */
  async store(zone: CacheZoneConfig, key: string, record: CacheRecord): Promise<void> {
    if (zone.disk_path !== undefined) {
      const size = await writeCacheFile(zone, key, record);
      this.link.stored(zone.name, key, size, expiresAt(record));
      return;
    }
    if (!this.link.local) this.l1.get(zone.name)!.put(`${zone.name}\0${key}`, record, Date.now());
    this.link.set(zone.name, key, record);
  }

  /** PURGE of a cache key (its entry, Vary index and variants); true when something was removed. */
  purge(zone: CacheZoneConfig, cacheKey: string): Promise<boolean> {
    this.l1.get(zone.name)?.deletePrefix(zone.name, entryKey(cacheKey));
    return this.link.purge(zone.name, cacheKey);
  }

  lock(zone: CacheZoneConfig, key: string): LockAnswer | Promise<LockAnswer> {
    return this.link.lock(zone.name, key);
  }

  unlock(zone: CacheZoneConfig, key: string, filled: boolean): void {
    this.link.unlock(zone.name, key, filled);
  }
}
