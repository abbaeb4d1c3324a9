// The Kafka wire format as the test broker (kafka-broker.ts) needs it, written from the
// protocol guide (https://kafka.apache.org/protocol) and the record format of
// https://kafka.apache.org/documentation/#recordbatch: big-endian fixed-width numbers,
// int16-length strings, int32-length bytes and arrays (-1 = null), zigzag varints inside
// records, and RecordBatch v2 with its CRC-32C. Only the non-flexible encodings: the
// broker advertises no version that uses tagged fields.
import { gunzipSync } from 'node:zlib';

/** Reads one request; every read past the end throws (the broker then closes the connection). */
export class WireReader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private take(n: number): Buffer {
    if (n < 0 || this.pos + n > this.buf.length) throw new Error(`truncated: ${n} bytes wanted at ${this.pos} of ${this.buf.length}`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  int8(): number { return this.take(1).readInt8(0); }
  int16(): number { return this.take(2).readInt16BE(0); }
  int32(): number { return this.take(4).readInt32BE(0); }
  uint32(): number { return this.take(4).readUInt32BE(0); }
  int64(): bigint { return this.take(8).readBigInt64BE(0); }
  boolean(): boolean { return this.int8() !== 0; }
  raw(n: number): Buffer { return this.take(n); }

  nullableString(): string | null {
    const n = this.int16();
    return n < 0 ? null : this.take(n).toString('utf8');
  }

  string(): string {
    const s = this.nullableString();
    if (s === null) throw new Error('null where a STRING is required');
    return s;
  }

  /** BYTES / NULLABLE_BYTES / RECORDS: an int32 length, -1 for null. */
  bytes(): Buffer | null {
    const n = this.int32();
    return n < 0 ? null : this.take(n);
  }

  array<T>(item: (r: WireReader) => T): T[] | null {
    const n = this.int32();
    if (n < 0) return null;
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(item(this));
    return out;
  }

  /** Unsigned LEB128 up to 64 bits. */
  private uvarlong(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const b = this.take(1)[0]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
    }
    throw new Error('varint longer than 10 bytes');
  }

  /** A zigzag varlong (record timestamps). */
  varlong(): bigint {
    const u = this.uvarlong();
    return (u >> 1n) ^ -(u & 1n);
  }

  /** A zigzag varint (record lengths, deltas, counts). */
  varint(): number {
    const v = this.varlong();
    if (v < -(2n ** 31n) || v >= 2n ** 31n) throw new Error(`varint out of int32 range: ${v}`);
    return Number(v);
  }

  /** A varint-length byte string of a record (-1 = null). */
  varBytes(): Buffer | null {
    const n = this.varint();
    return n < 0 ? null : this.take(n);
  }
}

/** Builds one response body. */
export class WireWriter {
  private readonly parts: Buffer[] = [];

  private fixed(n: number, write: (b: Buffer) => void): this {
    const b = Buffer.alloc(n);
    write(b);
    this.parts.push(b);
    return this;
  }

  int8(v: number): this { return this.fixed(1, (b) => b.writeInt8(v)); }
  int16(v: number): this { return this.fixed(2, (b) => b.writeInt16BE(v)); }
  int32(v: number): this { return this.fixed(4, (b) => b.writeInt32BE(v)); }
  int64(v: bigint): this { return this.fixed(8, (b) => b.writeBigInt64BE(v)); }
  boolean(v: boolean): this { return this.int8(v ? 1 : 0); }

  string(s: string | null): this {
    if (s === null) return this.int16(-1);
    const b = Buffer.from(s, 'utf8');
    return this.int16(b.length).raw(b);
  }

  bytes(b: Buffer | null): this {
    if (b === null) return this.int32(-1);
    return this.int32(b.length).raw(b);
  }

  array<T>(items: readonly T[] | null, item: (w: WireWriter, v: T) => void): this {
    if (items === null) return this.int32(-1);
    this.int32(items.length);
    for (const v of items) item(this, v);
    return this;
  }

  raw(b: Buffer): this {
    this.parts.push(b);
    return this;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as RecordBatch v2 checksums.
const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32c(buf: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of buf) crc = CRC32C_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

export interface RecordHeader { key: string; value: Buffer | null }

export interface DecodedRecord {
  /** The record's offset relative to its batch's base offset. */
  offsetDelta: number;
  timestamp: bigint;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

export interface DecodedBatch {
  baseOffset: bigint;
  /** Attribute bits 0-2: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd. */
  compression: number;
  records: DecodedRecord[];
}

const COMPRESSION_NAMES = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

/** Thrown for a batch a broker must refuse (CORRUPT_MESSAGE) rather than a malformed request. */
export class CorruptBatchError extends Error {}

/**
 * The record batches of one partition's RECORDS field (a producer may send several).
 * Only magic 2 (Kafka 0.11+ record batches), uncompressed or gzip; the CRC-32C covers
 * everything from the attributes to the end of the batch.
 */
export function decodeRecordBatches(records: Buffer): DecodedBatch[] {
  const batches: DecodedBatch[] = [];
  const r = new WireReader(records);
  while (r.remaining > 0) {
    const baseOffset = r.int64();
    const length = r.int32();
    const body = new WireReader(r.raw(length));
    body.int32(); // partitionLeaderEpoch
    const magic = body.int8();
    if (magic !== 2) throw new CorruptBatchError(`record batch magic ${magic}: only magic 2 is decoded`);
    const crc = body.uint32();
    const checked = body.raw(body.remaining);
    const actual = crc32c(checked);
    if (actual !== crc) throw new CorruptBatchError(`record batch CRC-32C mismatch: sent ${crc}, computed ${actual}`);
    const h = new WireReader(checked);
    const attributes = h.int16();
    h.int32(); // lastOffsetDelta
    const firstTimestamp = h.int64();
    h.int64(); // maxTimestamp
    h.int64(); // producerId
    h.int16(); // producerEpoch
    h.int32(); // baseSequence
    const count = h.int32();
    const compression = attributes & 0x07;
    let recordBytes: WireReader;
    if (compression === 0) recordBytes = h;
    else if (compression === 1) recordBytes = new WireReader(gunzipSync(h.raw(h.remaining)));
    else throw new CorruptBatchError(`record batch compression ${COMPRESSION_NAMES[compression] ?? compression} is not decoded (none or gzip)`);
    const decoded: DecodedRecord[] = [];
    for (let i = 0; i < count; i++) decoded.push(decodeRecord(recordBytes, firstTimestamp));
    if (recordBytes.remaining !== 0) throw new CorruptBatchError(`${recordBytes.remaining} bytes after the batch's ${count} records`);
    batches.push({ baseOffset, compression, records: decoded });
  }
  return batches;
}

function decodeRecord(batch: WireReader, firstTimestamp: bigint): DecodedRecord {
  const length = batch.varint();
  const r = new WireReader(batch.raw(length));
  r.int8(); // attributes (unused in v2)
  const timestamp = firstTimestamp + r.varlong();
  const offsetDelta = r.varint();
  const key = r.varBytes();
  const value = r.varBytes();
  const headerCount = r.varint();
  const headers: RecordHeader[] = [];
  for (let i = 0; i < headerCount; i++) {
    const hk = r.varBytes();
    headers.push({ key: hk?.toString('utf8') ?? '', value: r.varBytes() });
  }
  if (r.remaining !== 0) throw new CorruptBatchError(`${r.remaining} bytes after a record's headers`);
  return { offsetDelta, timestamp, key, value, headers };
}
