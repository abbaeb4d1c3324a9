// What a cache zone holds under a storage key: a stored response (`entry`), or the list
// of Vary variants of a cache key (`vary`), as APISIX's memory strategy keeps them. The
// same records travel over the IPC channel (JSON, the body in base64) and sit in disk
// files (a small binary header, the JSON meta, then the body bytes).

export interface CacheEntry {
  kind: 'entry';
  status: number;
  /** Flat [name, value, …] as the client got them (Apisix-Cache-Status and framing left out). */
  headers: string[];
  /** Seconds the entry is fresh. */
  ttl: number;
  /** Epoch ms it was stored. */
  storedAt: number;
  body: Buffer;
}

export interface VaryIndex {
  kind: 'vary';
  /** Sorted, lower-case header names. */
  vary: string[];
  /** Signatures of the variants stored, oldest first. */
  variants: string[];
  ttl: number;
  storedAt: number;
}

export type CacheRecord = CacheEntry | VaryIndex;

/** Epoch ms the record stops being fresh. */
export function expiresAt(r: CacheRecord): number {
  return r.storedAt + r.ttl * 1000;
}

/** Bytes a record costs in memory (body, headers, and a fixed overhead). */
export function recordSize(key: string, r: CacheRecord): number {
  let n = 160 + key.length * 2;
  if (r.kind === 'entry') {
    n += r.body.length;
    for (const h of r.headers) n += h.length * 2;
  } else {
    for (const v of r.variants) n += v.length * 2 + 16;
    for (const v of r.vary) n += v.length * 2 + 16;
  }
  return n;
}

/** A record as JSON-safe data (the IPC channel). */
export type WireRecord = Omit<CacheEntry, 'body'> & { body: string } | VaryIndex;

export function toWire(r: CacheRecord): WireRecord {
  return r.kind === 'entry' ? { ...r, body: r.body.toString('base64') } : r;
}

export function fromWire(w: unknown): CacheRecord | undefined {
  if (w === null || typeof w !== 'object') return undefined;
  const r = w as WireRecord;
  if (r.kind === 'entry' && typeof r.body === 'string') return { ...r, body: Buffer.from(r.body, 'base64') };
  if (r.kind === 'vary') return r;
  return undefined;
}

const MAGIC = 0x47484331; // "GHC1"
const HEAD = 8;

/** A disk file: magic, meta length, meta JSON (the key included, for the index rebuilt at start), body. */
export function encodeFile(key: string, r: CacheRecord): Buffer {
  const { body, ...rest } = r.kind === 'entry' ? r : { ...r, body: undefined };
  const meta = Buffer.from(JSON.stringify({ ...rest, key }));
  const head = Buffer.alloc(HEAD);
  head.writeUInt32BE(MAGIC, 0);
  head.writeUInt32BE(meta.length, 4);
  return body === undefined ? Buffer.concat([head, meta]) : Buffer.concat([head, meta, body]);
}

/** Length of the meta JSON from a file's first HEAD bytes, or -1 when it is not a cache file. */
export function metaLength(head: Buffer): number {
  if (head.length < HEAD || head.readUInt32BE(0) !== MAGIC) return -1;
  return head.readUInt32BE(4);
}

export const FILE_HEAD_BYTES = HEAD;

export interface FileMeta { key: string; record: CacheRecord }

/** The record (and its key) of a whole disk file; undefined when the file is not one of ours. */
export function decodeFile(buf: Buffer): FileMeta | undefined {
  const len = metaLength(buf);
  if (len < 0 || HEAD + len > buf.length) return undefined;
  try {
    const meta = JSON.parse(buf.subarray(HEAD, HEAD + len).toString()) as WireRecord & { key: string };
    const { key, ...rest } = meta;
    if (rest.kind === 'entry') return { key, record: { ...rest, body: buf.subarray(HEAD + len) } as CacheEntry };
    if (rest.kind === 'vary') return { key, record: rest as VaryIndex };
  } catch {
    // a torn or foreign file: treated as absent
  }
  return undefined;
}
