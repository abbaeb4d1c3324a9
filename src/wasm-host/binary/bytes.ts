// Byte-level reading and writing of WebAssembly binaries: LEB128 and bounds. Every read is
// checked against a limit (the end of the section or body being read), so a truncated or
// lying size field becomes a WasmModuleError naming where it happened, never a RangeError.

export class WasmModuleError extends Error {
  override readonly name = 'WasmModuleError';
  constructor(readonly reason: string, readonly offset?: number) {
    super(reason);
  }
}

export class ByteReader {
  pos: number;
  /** Reads may not go at or past this offset; set to the end of the current section or body. */
  limit: number;
  /** Names what is being read, for truncation messages ("section 10", "function body 3"). */
  context = 'module';

  constructor(readonly bytes: Uint8Array, start = 0, limit = bytes.length) {
    this.pos = start;
    this.limit = limit;
  }

  truncated(): WasmModuleError {
    return new WasmModuleError(`truncated ${this.context} at byte ${this.pos}`, this.pos);
  }

  atEnd(): boolean {
    return this.pos >= this.limit;
  }

  u8(): number {
    if (this.pos >= this.limit) throw this.truncated();
    return this.bytes[this.pos++]!;
  }

  skip(n: number): void {
    if (n < 0 || this.pos + n > this.limit) throw this.truncated();
    this.pos += n;
  }

  slice(n: number): Uint8Array {
    const start = this.pos;
    this.skip(n);
    return this.bytes.subarray(start, start + n);
  }

  u32(): number {
    const bytes = this.bytes;
    let pos = this.pos;
    if (pos < this.limit) {
      const first = bytes[pos]!;
      if (first < 0x80) {
        this.pos = pos + 1;
        return first;
      }
    }
    let result = 0;
    let shift = 0;
    for (;;) {
      if (pos >= this.limit) {
        this.pos = pos;
        throw this.truncated();
      }
      const byte = bytes[pos++]!;
      if (shift === 28 && byte > 0x0f) {
        throw new WasmModuleError(`malformed u32 (too large) in ${this.context} at byte ${pos - 1}`, pos - 1);
      }
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) break;
      shift += 7;
    }
    this.pos = pos;
    return result;
  }

  s32(): number {
    let result = 0;
    let shift = 0;
    let byte: number;
    do {
      if (shift > 28) throw new WasmModuleError(`malformed s32 in ${this.context} at byte ${this.pos}`, this.pos);
      byte = this.u8();
      result |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80);
    if (shift < 32 && (byte & 0x40) !== 0) result |= -1 << shift;
    return result | 0;
  }

  /** A signed LEB128 of up to `maxBits` bits (s33 block types, s64 constants): its value as a BigInt. */
  sBig(maxBits: number): bigint {
    let result = 0n;
    let shift = 0n;
    let byte: number;
    const maxBytes = Math.ceil(maxBits / 7);
    let count = 0;
    do {
      if (++count > maxBytes) throw new WasmModuleError(`malformed s${maxBits} in ${this.context} at byte ${this.pos}`, this.pos);
      byte = this.u8();
      result |= BigInt(byte & 0x7f) << shift;
      shift += 7n;
    } while (byte & 0x80);
    if ((byte & 0x40) !== 0) result -= 1n << shift;
    return result;
  }

  /** Steps over a LEB128 of at most `maxBytes` bytes without decoding it (i64.const, memarg offsets). */
  skipLeb(maxBytes: number): void {
    for (let i = 0; i < maxBytes; i++) {
      if ((this.u8() & 0x80) === 0) return;
    }
    throw new WasmModuleError(`malformed LEB128 in ${this.context} at byte ${this.pos}`, this.pos);
  }

  name(): string {
    const length = this.u32();
    return new TextDecoder('utf-8', { fatal: false }).decode(this.slice(length));
  }
}

/** A growable output buffer; sections are assembled here, then handed out as one Uint8Array. */
export class ByteWriter {
  private buffer: Uint8Array;
  length = 0;

  constructor(initialCapacity = 256) {
    this.buffer = new Uint8Array(Math.max(16, initialCapacity));
  }

  private reserve(extra: number): void {
    const needed = this.length + extra;
    if (needed <= this.buffer.length) return;
    let capacity = this.buffer.length * 2;
    while (capacity < needed) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
  }

  u8(value: number): void {
    this.reserve(1);
    this.buffer[this.length++] = value;
  }

  u32(value: number): void {
    this.reserve(5);
    let rest = value >>> 0;
    do {
      let byte = rest & 0x7f;
      rest >>>= 7;
      if (rest !== 0) byte |= 0x80;
      this.buffer[this.length++] = byte;
    } while (rest !== 0);
  }

  s32(value: number): void {
    this.reserve(5);
    let rest = value | 0;
    for (;;) {
      const byte = rest & 0x7f;
      rest >>= 7;
      const done = (rest === 0 && (byte & 0x40) === 0) || (rest === -1 && (byte & 0x40) !== 0);
      this.buffer[this.length++] = done ? byte : byte | 0x80;
      if (done) return;
    }
  }

  bytes(data: Uint8Array): void {
    this.reserve(data.length);
    this.buffer.set(data, this.length);
    this.length += data.length;
  }

  /** Appends source[start, end); short runs are copied bytewise, which beats creating a view. */
  copyFrom(source: Uint8Array, start: number, end: number): void {
    const length = end - start;
    this.reserve(length);
    const buffer = this.buffer;
    if (length <= 32) {
      let at = this.length;
      for (let i = start; i < end; i++) buffer[at++] = source[i]!;
    } else {
      buffer.set(source.subarray(start, end), this.length);
    }
    this.length += length;
  }

  name(text: string): void {
    const encoded = new TextEncoder().encode(text);
    this.u32(encoded.length);
    this.bytes(encoded);
  }

  reset(): void {
    this.length = 0;
  }

  /** The written bytes as a view; valid until the next write or reset. */
  view(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }

  /** The written bytes as an independent copy. */
  toBytes(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }
}
