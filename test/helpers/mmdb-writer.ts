// Writes small MaxMind DB files (format 2.0, https://maxmind.github.io/MaxMind-DB/) for
// the geo-ip tests: no npm package writes the format, and a real GeoIP2/GeoLite2 database
// is large and licensed. Enough of the spec for test data: an IPv6 tree (IPv4 networks
// live under ::/96, where readers look IPv4 addresses up) or an IPv4 one, 24-bit
// records, and the data types maps, arrays, strings, unsigned integers, doubles and
// booleans. Every record is written once, no pointers.
import { isIPv4, isIPv6 } from 'node:net';

export type MmdbValue = string | number | boolean | MmdbValue[] | { [key: string]: MmdbValue };

export interface MmdbNetwork {
  /** `a.b.c.d/len` or an IPv6 `prefix/len`. */
  cidr: string;
  data: MmdbValue;
}

export interface MmdbOptions {
  databaseType: string;
  ipVersion?: 4 | 6;
  languages?: string[];
}

/** A trie node: each side is another node, a record (by index into the data list) or nothing. */
interface TrieNode { sides: [TrieNode | number | undefined, TrieNode | number | undefined] }

const TYPE = { string: 2, double: 3, uint16: 5, uint32: 6, map: 7, uint64: 9, array: 11, boolean: 14 } as const;
const METADATA_MARKER = Buffer.from('abcdef4d61784d696e642e636f6d', 'hex');
const RECORD_BYTES = 3;

export function buildMmdb(networks: MmdbNetwork[], options: MmdbOptions): Buffer {
  const ipVersion = options.ipVersion ?? 6;
  const root: TrieNode = { sides: [undefined, undefined] };
  // wider networks first, so a narrower one splits the record it falls in
  const ordered = [...networks].sort((a, b) => prefixOf(a.cidr, ipVersion).length - prefixOf(b.cidr, ipVersion).length);
  ordered.forEach((n) => insert(root, prefixOf(n.cidr, ipVersion), networks.indexOf(n)));

  const nodes = numberNodes(root);
  const nodeCount = nodes.length;
  const encoded = networks.map((n) => encode(n.data));
  const offsets: number[] = [];
  let dataSize = 0;
  for (const e of encoded) { offsets.push(dataSize); dataSize += e.length; }

  const tree = Buffer.alloc(nodeCount * RECORD_BYTES * 2);
  const index = new Map(nodes.map((n, i) => [n, i]));
  const recordValue = (side: TrieNode | number | undefined): number => {
    if (side === undefined) return nodeCount;
    if (typeof side === 'number') return nodeCount + 16 + offsets[side]!;
    return index.get(side)!;
  };
  nodes.forEach((node, i) => {
    tree.writeUIntBE(recordValue(node.sides[0]), i * 6, RECORD_BYTES);
    tree.writeUIntBE(recordValue(node.sides[1]), i * 6 + RECORD_BYTES, RECORD_BYTES);
  });

  const metadata = encode({
    node_count: uint32(nodeCount),
    record_size: uint16(24),
    ip_version: uint16(ipVersion),
    database_type: options.databaseType,
    languages: options.languages ?? ['en'],
    binary_format_major_version: uint16(2),
    binary_format_minor_version: uint16(0),
    build_epoch: uint64(Math.floor(Date.now() / 1000)),
    description: { en: `${options.databaseType} built for tests` },
  });
  return Buffer.concat([tree, Buffer.alloc(16), ...encoded, METADATA_MARKER, metadata]);
}

// Integers are tagged so the metadata gets the unsigned types the spec names; plain
// numbers in record data are written as uint32 when whole and non-negative, else double.
const UINT = Symbol('uint');
type TaggedUint = { [UINT]: 'uint16' | 'uint32' | 'uint64'; value: number };
const uint16 = (value: number): MmdbValue => ({ [UINT]: 'uint16', value } as unknown as MmdbValue);
const uint32 = (value: number): MmdbValue => ({ [UINT]: 'uint32', value } as unknown as MmdbValue);
const uint64 = (value: number): MmdbValue => ({ [UINT]: 'uint64', value } as unknown as MmdbValue);

/** The network's leading bits, as 0/1 numbers (an IPv4 network in an IPv6 tree gets 96 zero bits first). */
function prefixOf(cidr: string, ipVersion: 4 | 6): number[] {
  const [addr, lenText] = cidr.split('/');
  const len = Number(lenText);
  let bytes: number[];
  let offset = 0;
  if (isIPv4(addr!)) {
    bytes = addr!.split('.').map(Number);
    if (ipVersion === 6) { bytes = [...Array<number>(12).fill(0), ...bytes]; offset = 96; }
  } else if (isIPv6(addr!) && ipVersion === 6) {
    bytes = ipv6Bytes(addr!);
  } else {
    throw new Error(`${cidr} does not fit an IPv${ipVersion} database`);
  }
  const bits: number[] = [];
  for (let i = 0; i < offset + len; i++) bits.push((bytes[i >> 3]! >> (7 - (i & 7))) & 1);
  return bits;
}

function ipv6Bytes(addr: string): number[] {
  const [head, tail] = addr.split('::');
  const groups = (s: string | undefined): number[] => (s === undefined || s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const h = groups(head);
  const t = groups(tail);
  const all = addr.includes('::') ? [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t] : h;
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

function insert(root: TrieNode, bits: number[], record: number): void {
  let node = root;
  for (let i = 0; i < bits.length - 1; i++) {
    const side = node.sides[bits[i]!];
    if (side === undefined || typeof side === 'number') {
      // a wider network's record covers this branch: it keeps both halves below
      const child: TrieNode = { sides: [side, side] };
      node.sides[bits[i]!] = child;
      node = child;
    } else {
      node = side;
    }
  }
  node.sides[bits[bits.length - 1]!] = record;
}

function numberNodes(root: TrieNode): TrieNode[] {
  const out: TrieNode[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const node = queue.shift()!;
    out.push(node);
    for (const side of node.sides) if (typeof side === 'object') queue.push(side);
  }
  return out;
}

function control(type: number, size: number): Buffer {
  const head: number[] = [];
  let sizeBytes: number[] = [];
  let sizeBits = size;
  if (size >= 65821) { sizeBits = 31; sizeBytes = bigEndian(size - 65821, 3); }
  else if (size >= 285) { sizeBits = 30; sizeBytes = bigEndian(size - 285, 2); }
  else if (size >= 29) { sizeBits = 29; sizeBytes = [size - 29]; }
  if (type <= 7) head.push((type << 5) | sizeBits);
  else head.push(sizeBits, type - 7);
  return Buffer.from([...head, ...sizeBytes]);
}

function bigEndian(value: number, bytes: number): number[] {
  const out: number[] = [];
  for (let i = bytes - 1; i >= 0; i--) out.push(Math.floor(value / 2 ** (8 * i)) & 0xff);
  return out;
}

function unsigned(type: number, value: number): Buffer {
  const bytes: number[] = [];
  for (let v = value; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return Buffer.concat([control(type, bytes.length), Buffer.from(bytes)]);
}

function encode(value: MmdbValue): Buffer {
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([control(TYPE.string, bytes.length), bytes]);
  }
  if (typeof value === 'boolean') return control(TYPE.boolean, value ? 1 : 0);
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0 && value < 2 ** 32) return unsigned(TYPE.uint32, value);
    const bytes = Buffer.alloc(8);
    bytes.writeDoubleBE(value);
    return Buffer.concat([control(TYPE.double, 8), bytes]);
  }
  if (Array.isArray(value)) return Buffer.concat([control(TYPE.array, value.length), ...value.map(encode)]);
  const tagged = value as unknown as TaggedUint;
  if (tagged[UINT] !== undefined) return unsigned(TYPE[tagged[UINT]], tagged.value);
  const entries = Object.entries(value);
  return Buffer.concat([control(TYPE.map, entries.length), ...entries.flatMap(([k, v]) => [encode(k), encode(v)])]);
}

/** A GeoIP2/GeoLite2-City record: names in each language given, as MaxMind lays them out. */
export function cityRecord(r: {
  countryCode: string; country: Record<string, string>; subdivision?: Record<string, string>; city?: Record<string, string>;
}): MmdbValue {
  return {
    country: { iso_code: r.countryCode, names: r.country },
    ...(r.subdivision !== undefined ? { subdivisions: [{ names: r.subdivision }] } : {}),
    ...(r.city !== undefined ? { city: { names: r.city } } : {}),
  };
}
