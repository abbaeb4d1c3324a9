// The node's response cache as proxy-cache sees it: the zones of config.yaml and the
// process's CacheAccess — over IPC to the primary's CacheService in a cluster worker,
// an in-process service otherwise. Created on first use, so the primary loading the
// plugin to validate configs opens nothing.
import cluster from 'node:cluster';
import path from 'node:path';
import type { ProxyCacheConfig } from '../contracts/node-config.js';
import { resolveProxyCache } from '../core/proxy-cache-config.js';
import { CacheAccess, LocalLink } from './access.js';
import { IpcLink, processCacheChannel } from './ipc.js';
import { CacheService } from './service.js';

export type { CacheRecord, CacheEntry, VaryIndex } from './record.js';
export type { LockAnswer } from './access.js';
export { CacheAccess } from './access.js';
export { CacheService, LOCK_MS } from './service.js';
export { attachCacheService } from './ipc.js';
export { entryKey, indexKey, variantKey } from './keys.js';
export { cacheFilePath } from './disk-files.js';
export { findEntry, isFresh, storeEntry } from './variants.js';

let config: ProxyCacheConfig | undefined;
let access: CacheAccess | undefined;

/** Sets the node's proxy_cache settings (the primary and each worker, at start). */
export function configureProxyCache(next: ProxyCacheConfig): void {
  config = next;
  access = undefined;
}

export function proxyCacheConfig(): ProxyCacheConfig {
  return config ??= resolveProxyCache({ cache_ttl: '10s' }, process.cwd(), path.resolve('data'));
}

/** The process's way to the node's cache. */
export function cacheAccess(): CacheAccess {
  const zones = proxyCacheConfig().zones;
  return access ??= cluster.isWorker && typeof process.send === 'function'
    ? new CacheAccess(new IpcLink(processCacheChannel()), zones)
    : new CacheAccess(new LocalLink(new CacheService(zones)), zones);
}

/** Replaces the process's access (unit tests); undefined: built again on next use. */
export function setCacheAccess(next: CacheAccess | undefined): void {
  access = next;
}
