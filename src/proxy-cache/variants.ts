// A cache key's entries as APISIX's memory strategy keeps them: the entry itself, or,
// once a response said `Vary`, an index of the varying request headers and one entry
// per signature of their values (at most MAX_VARIANTS, the oldest replaced).
import type { CacheZoneConfig } from '../contracts/node-config.js';
import type { CacheAccess } from './access.js';
import { entryKey, indexKey, variantKey } from './keys.js';
import { expiresAt, type CacheEntry, type CacheRecord } from './record.js';
import { MAX_VARIANTS, sameList, varySignature } from './http-rules.js';

type Header = (name: string) => string | undefined;

export function isFresh(r: CacheRecord | undefined, now: number): boolean {
  return r !== undefined && expiresAt(r) > now;
}

/** The storage key a request's entry is under: its variant when a fresh Vary index lists the key. */
function storageKey(index: CacheRecord | undefined, key: string, header: Header): string {
  if (index?.kind !== 'vary' || !isFresh(index, Date.now()) || index.vary.length === 0) return entryKey(key);
  return variantKey(key, varySignature(index.vary, header));
}

/** The record (fresh or not) a request with these headers finds under cache key `key`. */
export function findEntry(access: CacheAccess, zone: CacheZoneConfig, key: string, header: Header):
  CacheRecord | undefined | Promise<CacheRecord | undefined> {
  const index = access.lookup(zone, indexKey(key));
  if (index instanceof Promise) return index.then((i) => access.lookup(zone, storageKey(i, key, header)));
  return access.lookup(zone, storageKey(index, key, header));
}

/**
 * Stores `entry` under cache key `key` for a response that varied on `vary` (sorted
 * lower-case names, [] for none): the entry first (a lookup finds it through the index as
 * soon as the index lists it), then the index.
 */
export async function storeEntry(access: CacheAccess, zone: CacheZoneConfig, key: string, entry: CacheEntry,
  vary: readonly string[], header: Header): Promise<void> {
  const sig = varySignature(vary, header);
  await access.store(zone, vary.length === 0 ? entryKey(key) : variantKey(key, sig), entry);
  const ik = indexKey(key);
  const cur = await access.lookup(zone, ik);
  const index = { kind: 'vary' as const, ttl: entry.ttl, storedAt: entry.storedAt };
  if (vary.length === 0) {
    // no Vary now: an index left from an earlier Vary response no longer applies
    if (cur?.kind === 'vary' && cur.vary.length > 0) await access.store(zone, ik, { ...index, vary: [], variants: [] });
    return;
  }
  const variants = cur?.kind === 'vary' && sameList(cur.vary, vary) ? cur.variants.filter((s) => s !== sig) : [];
  variants.push(sig);
  while (variants.length > MAX_VARIANTS) variants.shift();
  await access.store(zone, ik, { ...index, vary: [...vary], variants });
}
