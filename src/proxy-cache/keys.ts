// Storage keys derived from a cache key, as APISIX's memory strategy (CACHE_VERSION 3)
// derives them: the length prefix keeps the derivation injective, so a crafted cache key
// can never equal another key's variant or Vary index.

export function entryKey(cacheKey: string): string {
  return `${cacheKey.length}:${cacheKey}`;
}

export function indexKey(cacheKey: string): string {
  return `${entryKey(cacheKey)}::__vary`;
}

export function variantKey(cacheKey: string, signature: string): string {
  return `${entryKey(cacheKey)}::${signature}`;
}
