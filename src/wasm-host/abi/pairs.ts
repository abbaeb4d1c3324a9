// The ABI's map serialisation (header maps, local response and http_call headers):
// u32 count, count × (u32 key length, u32 value length), then each key and value
// followed by a NUL. Little-endian. An empty map may arrive as no bytes, one 0x00 byte
// or a 4-byte zero count.

/** Pairs as a flat [name, value, name, value, …] list: repeated names stay separate entries. */
export type FlatPairs = string[];

export function encodePairs(flat: readonly string[]): Uint8Array {
  const n = flat.length >> 1;
  const encoded: Buffer[] = new Array(flat.length);
  let size = 4 + n * 8;
  for (let i = 0; i < flat.length; i++) {
    encoded[i] = Buffer.from(flat[i]!, 'latin1');
    size += encoded[i]!.length + 1;
  }
  const out = Buffer.alloc(size);
  out.writeUInt32LE(n, 0);
  let lens = 4;
  let data = 4 + n * 8;
  for (let i = 0; i < flat.length; i++) {
    const b = encoded[i]!;
    out.writeUInt32LE(b.length, lens);
    lens += 4;
    b.copy(out, data);
    data += b.length + 1; // the NUL is already 0 in the zero-filled buffer
  }
  return out;
}

/** Decodes a serialised map; throws on a malformed one (the caller answers BAD_ARGUMENT). */
export function decodePairs(bytes: Uint8Array): FlatPairs {
  if (bytes.length <= 1) return [];
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (buf.length < 4) throw new Error('map shorter than its count');
  const n = buf.readUInt32LE(0);
  if (n > 1024) throw new Error(`map of ${n} pairs (at most 1024)`);
  let lens = 4;
  let data = 4 + n * 8;
  if (data > buf.length) throw new Error('map shorter than its size table');
  const out: FlatPairs = new Array(n * 2);
  for (let i = 0; i < n; i++) {
    const kl = buf.readUInt32LE(lens), vl = buf.readUInt32LE(lens + 4);
    lens += 8;
    if (data + kl + 1 + vl + 1 > buf.length) throw new Error('map entry past its end');
    out[2 * i] = buf.toString('latin1', data, data + kl);
    data += kl + 1;
    out[2 * i + 1] = buf.toString('latin1', data, data + vl);
    data += vl + 1;
  }
  return out;
}
