// The authoritative cache of a node, kept by one process (the primary when the node runs
// worker processes): per zone an LRU index with byte accounting (a memory zone holds the
// records, a disk zone the sizes of its files), PURGE, and the locks that collapse
// concurrent misses for one key into one upstream request. Workers reach it through
// CacheAccess (access.ts); `owner` is the worker asking (0 in a single process).
import type { CacheZoneConfig } from '../contracts/node-config.js';
import { expiresAt, recordSize, type CacheRecord } from './record.js';
import { readCacheFile, removeCacheFile, scanCacheFiles } from './disk-files.js';
import { entryKey, indexKey, variantKey } from './keys.js';

/** How long a miss holds its key's lock, and so how long other requests for it wait (nginx proxy_cache_lock_timeout). */
export const LOCK_MS = 5_000;
/** Files looked at when a disk zone's index is rebuilt at start. */
export const SCAN_LIMIT = 200_000;
/** Index bytes one disk entry costs against the zone's memory_size. */
const DISK_SLOT_BYTES = 200;

interface Slot { size: number; record?: CacheRecord; expires: number }

interface Zone {
  conf: CacheZoneConfig;
  disk: boolean;
  /** Insertion order is recency: the first is the least recently used. */
  lru: Map<string, Slot>;
  /** Memory zone: record bytes; disk zone: file bytes. */
  bytes: number;
  /** Disk zone: what its index costs in memory. */
  indexBytes: number;
  evictions: number;
}

interface Lock { owner: number; timer: NodeJS.Timeout; waiters: ((filled: boolean) => void)[] }

/** Tells other workers that keys changed; resolves once they dropped their copies (or a bound passed). */
export type Invalidate = (except: number, zone: string, keys: string[]) => Promise<void>;

export class CacheService {
  private readonly zones = new Map<string, Zone>();
  private readonly locks = new Map<string, Lock>();
  invalidate: Invalidate = () => Promise.resolve();

  constructor(zones: readonly CacheZoneConfig[], scanLimit = SCAN_LIMIT) {
    for (const conf of zones) {
      const zone: Zone = { conf, disk: conf.disk_path !== undefined, lru: new Map(), bytes: 0, indexBytes: 0, evictions: 0 };
      this.zones.set(conf.name, zone);
      if (zone.disk) this.rebuild(zone, scanLimit);
    }
  }

  /** A disk zone's index from its files, least recently used first, trimmed to the bounds. */
  private rebuild(zone: Zone, limit: number): void {
    const files = scanCacheFiles(zone.conf, limit).sort((a, b) => a.atimeMs - b.atimeMs);
    for (const f of files) this.add(zone, f.key, { size: f.size, expires: f.record.storedAt + f.record.ttl * 1000 });
    this.evict(zone);
  }

  zone(name: string): CacheZoneConfig | undefined {
    return this.zones.get(name)?.conf;
  }

  /** A memory zone's record (fresh or not); undefined when it holds none. */
  get(zoneName: string, key: string): CacheRecord | undefined {
    const zone = this.zones.get(zoneName);
    const slot = zone?.lru.get(key);
    if (slot === undefined) return undefined;
    this.bump(zone!, key, slot);
    return slot.record;
  }

  /** Stores a memory zone's record; others' copies of the key are dropped. */
  set(owner: number, zoneName: string, key: string, record: CacheRecord): void {
    const zone = this.zones.get(zoneName);
    if (zone === undefined || zone.disk) return;
    const size = recordSize(key, record);
    this.remove(zone, key);
    if (size > zone.conf.memory_size) return;
    this.add(zone, key, { size, record, expires: expiresAt(record) });
    this.evict(zone);
    void this.invalidate(owner, zoneName, [key]);
  }

  /** A worker wrote a disk zone's file for `key`: it joins the index (and older files may go). */
  stored(zoneName: string, key: string, size: number, expires: number): void {
    const zone = this.zones.get(zoneName);
    if (zone === undefined || !zone.disk) return;
    this.remove(zone, key);
    // a file larger than the zone would evict everything else and then itself
    if (size > zone.conf.disk_size!) {
      void removeCacheFile(zone.conf, key);
      return;
    }
    this.add(zone, key, { size, expires });
    this.evict(zone);
  }

  /** A disk hit read `key`'s file: it becomes the most recently used. */
  touch(zoneName: string, key: string): void {
    const zone = this.zones.get(zoneName);
    const slot = zone?.lru.get(key);
    if (slot !== undefined) this.bump(zone!, key, slot);
  }

  /**
   * APISIX's PURGE: the cache key's entry, its Vary index and every variant it lists go;
   * true when any existed (fresh or expired). Resolves once no worker can serve them.
   */
  async purge(owner: number, zoneName: string, cacheKey: string): Promise<boolean> {
    const zone = this.zones.get(zoneName);
    if (zone === undefined) return false;
    const ik = indexKey(cacheKey);
    const index = zone.disk ? await readCacheFile(zone.conf, ik) : zone.lru.get(ik)?.record;
    const keys = [entryKey(cacheKey), ik];
    if (index?.kind === 'vary') for (const sig of index.variants) keys.push(variantKey(cacheKey, sig));
    let found = false;
    for (const k of keys) {
      if (zone.lru.has(k)) found = true;
      this.remove(zone, k);
      if (zone.disk && await removeCacheFile(zone.conf, k)) found = true;
    }
    await this.invalidate(owner, zoneName, keys);
    return found;
  }

  /**
   * The miss lock of `key`: true (at once) when `owner` now holds it and goes upstream;
   * otherwise a promise that resolves when the holder is done — true when it stored
   * something (look again), false when it did not or LOCK_MS passed (go upstream too).
   */
  lock(owner: number, zoneName: string, key: string): true | Promise<boolean> {
    const id = `${zoneName}\0${key}`;
    const held = this.locks.get(id);
    if (held === undefined) {
      const timer = setTimeout(() => this.release(id, false), LOCK_MS);
      timer.unref?.();
      this.locks.set(id, { owner, timer, waiters: [] });
      return true;
    }
    return new Promise((resolve) => held.waiters.push(resolve));
  }

  /** The holder is done with `key` (`filled`: it stored a response). */
  unlock(owner: number, zoneName: string, key: string, filled: boolean): void {
    const id = `${zoneName}\0${key}`;
    if (this.locks.get(id)?.owner === owner) this.release(id, filled);
  }

  /** A worker went away: the locks it held are released (their waiters go upstream). */
  ownerGone(owner: number): void {
    for (const [id, lock] of [...this.locks]) if (lock.owner === owner) this.release(id, false);
  }

  private release(id: string, filled: boolean): void {
    const lock = this.locks.get(id);
    if (lock === undefined) return;
    this.locks.delete(id);
    clearTimeout(lock.timer);
    for (const w of lock.waiters) w(filled);
  }

  /** Bytes and entries per zone (for tests and the docs' sizing advice). */
  usage(zoneName: string): { entries: number; bytes: number; evictions: number } | undefined {
    const zone = this.zones.get(zoneName);
    return zone === undefined ? undefined : { entries: zone.lru.size, bytes: zone.bytes, evictions: zone.evictions };
  }

  private bump(zone: Zone, key: string, slot: Slot): void {
    zone.lru.delete(key);
    zone.lru.set(key, slot);
  }

  private add(zone: Zone, key: string, slot: Slot): void {
    zone.lru.set(key, slot);
    zone.bytes += slot.size;
    if (zone.disk) zone.indexBytes += DISK_SLOT_BYTES + key.length * 2;
  }

  private remove(zone: Zone, key: string): void {
    const slot = zone.lru.get(key);
    if (slot === undefined) return;
    zone.lru.delete(key);
    zone.bytes -= slot.size;
    if (zone.disk) zone.indexBytes -= DISK_SLOT_BYTES + key.length * 2;
  }

  /** Least recently used entries go until the zone fits its bounds (a disk zone's files with them). */
  private evict(zone: Zone): void {
    const limit = zone.disk ? zone.conf.disk_size! : zone.conf.memory_size;
    const gone: string[] = [];
    for (const key of zone.lru.keys()) {
      if (zone.bytes <= limit && zone.indexBytes <= zone.conf.memory_size) break;
      this.remove(zone, key);
      zone.evictions++;
      gone.push(key);
      if (zone.disk) void removeCacheFile(zone.conf, key);
    }
    if (gone.length > 0 && !zone.disk) void this.invalidate(-1, zone.conf.name, gone);
  }
}
