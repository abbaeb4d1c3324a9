const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * 32-bit FNV-1a over the string's UTF-16 code units, then murmur3's fmix32 finaliser.
 * Plain FNV-1a clusters strings that differ only in their last characters (`node#1`,
 * `node#2`), which would bunch virtual nodes on the ring; the finaliser spreads them.
 * Hashing code units rather than UTF-8 bytes is fine: the value only has to agree
 * between processes running this same code.
 */
export function hash32(input: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < input.length; i++) {
    h ^= input.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
