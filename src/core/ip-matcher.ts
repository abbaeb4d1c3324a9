// IP / CIDR matching for remote_addrs, ipmatch and ip-restriction.
//
// `node:net` BlockList is the reference for what is valid, but its `check` costs
// about a microsecond and grows linearly with the list, which is too slow for a
// per-request condition. So entries are validated with `net.isIP` and matched here
// on parsed integers: IPv4 by a Set per prefix length, IPv6 by a flat mask table.
// Every address lives in the IPv6 space, with IPv4 as `::ffff:a.b.c.d`, so an
// IPv4-mapped client address matches an IPv4 rule and the other way round.
import { isIP } from 'node:net';

export type IpMatcher = (ip: string) => boolean;

// Scratch space for the parser. Matching is synchronous and calls no user code, so
// one module-level buffer is safe and keeps the hot path allocation-free.
const groups = new Uint16Array(8);
const words = new Uint32Array(4);

const CH_0 = 48;
const CH_9 = 57;
const CH_DOT = 46;
const CH_COLON = 58;
const CH_PERCENT = 37;

/** Parses dotted-quad IPv4 in s[start, end); returns the uint32 value or -1. */
function parseV4(s: string, start: number, end: number): number {
  let value = 0;
  let parts = 0;
  let i = start;
  while (true) {
    const partStart = i;
    let part = 0;
    while (i < end) {
      const c = s.charCodeAt(i);
      if (c < CH_0 || c > CH_9) break;
      part = part * 10 + (c - CH_0);
      i++;
    }
    const len = i - partStart;
    // Leading zeros are refused, as `net.isIPv4` does, so `010` is never read as 8 or 10.
    if (len === 0 || len > 3 || part > 255 || (len > 1 && s.charCodeAt(partStart) === CH_0)) return -1;
    value = value * 256 + part;
    parts++;
    if (parts === 4) return i === end ? value : -1;
    if (i >= end || s.charCodeAt(i) !== CH_DOT) return -1;
    i++;
  }
}

function hexDigit(c: number): number {
  if (c >= CH_0 && c <= CH_9) return c - CH_0;
  const lower = c | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

/** Parses IPv6 in s[start, end) into `words`; false when malformed. */
function parseV6(s: string, start: number, end: number): boolean {
  let n = 0;
  let gap = -1;
  let i = start;
  if (end - start >= 2 && s.charCodeAt(i) === CH_COLON) {
    if (s.charCodeAt(i + 1) !== CH_COLON) return false;
    gap = 0;
    i += 2;
  }
  while (i < end) {
    let value = 0;
    let j = i;
    while (j < end && j - i < 5) {
      const d = hexDigit(s.charCodeAt(j));
      if (d < 0) break;
      value = (value << 4) | d;
      j++;
    }
    if (j < end && s.charCodeAt(j) === CH_DOT) {
      if (n > 6) return false;
      const v4 = parseV4(s, i, end);
      if (v4 < 0) return false;
      groups[n++] = Math.floor(v4 / 65536);
      groups[n++] = v4 & 0xffff;
      i = end;
      break;
    }
    const digits = j - i;
    if (digits === 0 || digits > 4 || n === 8) return false;
    groups[n++] = value;
    if (j === end) {
      i = j;
      break;
    }
    if (s.charCodeAt(j) !== CH_COLON) return false;
    j++;
    if (j < end && s.charCodeAt(j) === CH_COLON) {
      if (gap >= 0) return false;
      gap = n;
      j++;
    } else if (j === end) {
      return false;
    }
    i = j;
  }
  if (gap >= 0) {
    if (n === 8) return false;
    const tail = n - gap;
    for (let k = 0; k < tail; k++) groups[7 - k] = groups[n - 1 - k]!;
    for (let k = gap; k < 8 - tail; k++) groups[k] = 0;
  } else if (n !== 8) {
    return false;
  }
  for (let k = 0; k < 4; k++) words[k] = ((groups[2 * k]! << 16) | groups[2 * k + 1]!) >>> 0;
  return true;
}

/** Parses any IPv4 or IPv6 address (zone id ignored) into `words`. */
function parseIp(s: string): boolean {
  let end = s.indexOf('%');
  if (end < 0) end = s.length;
  if (s.indexOf(':') < 0) {
    const v4 = parseV4(s, 0, end);
    if (v4 < 0) return false;
    words[0] = 0;
    words[1] = 0;
    words[2] = 0xffff;
    words[3] = v4;
    return true;
  }
  return parseV6(s, 0, end);
}

function isMappedV4(): boolean {
  return words[0] === 0 && words[1] === 0 && words[2] === 0xffff;
}

function maskOf(bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - bits)) >>> 0;
}

function splitEntry(entry: string): { addr: string; prefix: number } | undefined {
  if (typeof entry !== 'string') return undefined;
  const slash = entry.indexOf('/');
  const addr = slash < 0 ? entry : entry.slice(0, slash);
  const family = isIP(addr);
  if (family === 0) return undefined;
  const max = family === 4 ? 32 : 128;
  if (slash < 0) return { addr, prefix: 128 };
  const bits = entry.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits)) return undefined;
  const prefix = Number(bits);
  if (prefix > max) return undefined;
  // Rules are kept in the IPv6 space, where an IPv4 /n is a mapped /(96+n).
  return { addr, prefix: family === 4 ? prefix + 96 : prefix };
}

/** True for an IPv4/IPv6 address or CIDR such as `10.0.0.0/8` or `2001:db8::/32`. */
export function isValidIpOrCidr(s: string): boolean {
  return splitEntry(s) !== undefined;
}

interface V4Bucket { mask: number; nets: Set<number> }

/**
 * Compiles a list of addresses and CIDRs into a predicate. Throws
 * `Error('invalid ip address: X')` on the first bad entry.
 */
export function compileIpMatcher(list: readonly string[]): IpMatcher {
  const v4ByPrefix = new Map<number, Set<number>>();
  let anyV4 = false;
  const v6: number[] = [];
  // v6 rules that overlap ::ffff:0:0/96 must also be consulted for IPv4 clients.
  const v6Mapped: number[] = [];

  for (const entry of list) {
    const parsed = splitEntry(entry);
    if (parsed === undefined || !parseIp(parsed.addr)) throw new Error(`invalid ip address: ${String(entry)}`);
    const { prefix } = parsed;
    if (prefix >= 96 && isMappedV4()) {
      const bits = prefix - 96;
      if (bits === 0) {
        anyV4 = true;
        continue;
      }
      const mask = maskOf(bits);
      let nets = v4ByPrefix.get(mask);
      if (nets === undefined) v4ByPrefix.set(mask, (nets = new Set()));
      nets.add((words[3]! & mask) >>> 0);
      continue;
    }
    let overlapsMapped = true;
    for (let k = 0; k < 4; k++) {
      const mask = maskOf(prefix - 32 * k);
      const net = (words[k]! & mask) >>> 0;
      v6.push(net, mask);
      const mappedWord = k === 2 ? 0xffff : 0;
      if (k < 3 && ((mappedWord & mask) >>> 0) !== net) overlapsMapped = false;
    }
    if (overlapsMapped) v6Mapped.push(...v6.slice(v6.length - 8));
  }

  const buckets: V4Bucket[] = [];
  for (const [mask, nets] of v4ByPrefix) buckets.push({ mask, nets });
  const v6Table = Uint32Array.from(v6);
  const v6MappedTable = Uint32Array.from(v6Mapped);

  const inV6 = (table: Uint32Array): boolean => {
    for (let r = 0; r < table.length; r += 8) {
      if (
        ((words[0]! & table[r + 1]!) >>> 0) === table[r] &&
        ((words[1]! & table[r + 3]!) >>> 0) === table[r + 2] &&
        ((words[2]! & table[r + 5]!) >>> 0) === table[r + 4] &&
        ((words[3]! & table[r + 7]!) >>> 0) === table[r + 6]
      ) return true;
    }
    return false;
  };

  return (ip: string): boolean => {
    if (typeof ip !== 'string' || !parseIp(ip)) return false;
    if (isMappedV4()) {
      if (anyV4) return true;
      const a = words[3]!;
      for (let b = 0; b < buckets.length; b++) {
        const bucket = buckets[b]!;
        if (bucket.nets.has((a & bucket.mask) >>> 0)) return true;
      }
      return v6MappedTable.length > 0 && inV6(v6MappedTable);
    }
    return v6Table.length > 0 && inV6(v6Table);
  };
}
