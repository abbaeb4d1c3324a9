import { DoubleValue, epochMicros, STATUS, type Attributes, type AttributeValue, type SpanRecord } from './span.js';

// OTLP/HTTP's binary body: an ExportTraceServiceRequest (opentelemetry-proto,
// collector/trace/v1) in protobuf. Only the few messages and wire types a trace export
// needs are written, so this is a small writer of our own rather than a protobuf runtime:
// varints, 64-bit little-endian fields and length-delimited fields, in one pass. The tests decode its
// output with the official definitions (the protobufjs root generated from
// opentelemetry-proto), not with anything here.

const VARINT = 0;
const I64 = 1;
const LEN = 2;

/**
 * One growable buffer the whole request is written into, reused from batch to batch. A
 * length-delimited field (a nested message, a string) reserves the bytes its length is
 * expected to take and fixes them once its content is written: the content is moved
 * along only when the guess was wrong, instead of writing every nested message into a
 * buffer of its own. The common case (a short ASCII string, an attribute of them) has a
 * path of its own that writes its one-byte lengths straight.
 */
class ProtoWriter {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private pos = 0;
  /** Each open length-delimited field: where its length goes and how many bytes were reserved for it. */
  private readonly open: number[] = [];

  reset(): void {
    this.pos = 0;
    this.open.length = 0;
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private varint(n: number): void {
    this.room(10);
    while (n > 0x7f) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }

  private tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  uint(field: number, n: number): void {
    this.tag(field, VARINT);
    this.varint(n);
  }

  /** int64: a negative value is its 64-bit two's complement (ten bytes). */
  int64(field: number, n: number): void {
    this.tag(field, VARINT);
    if (n >= 0 && n <= Number.MAX_SAFE_INTEGER) {
      this.varint(n);
      return;
    }
    let v = BigInt.asUintN(64, BigInt(Math.trunc(n)));
    this.room(10);
    while (v > 0x7fn) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }

  bool(field: number, b: boolean): void {
    this.uint(field, b ? 1 : 0);
  }

  double(field: number, n: number): void {
    this.tag(field, I64);
    this.room(8);
    this.pos = this.buf.writeDoubleLE(n, this.pos);
  }

  private uint32le(n: number): void {
    const buf = this.buf;
    buf[this.pos++] = n & 0xff;
    buf[this.pos++] = (n >>> 8) & 0xff;
    buf[this.pos++] = (n >>> 16) & 0xff;
    buf[this.pos++] = n >>> 24;
  }

  /**
   * fixed64 nanoseconds since the epoch, from microseconds, as two 32-bit halves: a
   * nanosecond count passes 2^53, so it is not computed as one number.
   */
  nanos(field: number, micros: number): void {
    this.tag(field, I64);
    this.room(8);
    const high = Math.floor(micros / 0x100000000);
    const low = (micros - high * 0x100000000) * 1000;
    const carry = Math.floor(low / 0x100000000);
    this.uint32le(low - carry * 0x100000000);
    this.uint32le(high * 1000 + carry);
  }

  /**
   * Opens a length-delimited field whose length is expected to take `reserve` bytes (1:
   * under 128 bytes, 2: under 16 KiB, 3: under 2 MiB); `end()` closes the latest one.
   */
  begin(field: number, reserve = 1): void {
    this.tag(field, LEN);
    this.room(reserve);
    this.open.push(this.pos, reserve);
    this.pos += reserve;
  }

  end(): void {
    const reserved = this.open.pop()!;
    const at = this.open.pop()!;
    const len = this.pos - at - reserved;
    let bytes = 1;
    for (let n = len; n > 0x7f; n = Math.floor(n / 128)) bytes++;
    if (bytes !== reserved) {
      this.room(bytes - reserved);
      this.buf.copyWithin(at + bytes, at + reserved, this.pos);
    }
    const end = this.pos + bytes - reserved;
    this.pos = at;
    this.varint(len);
    this.pos = end;
  }

  /**
   * A string of at most 127 ASCII characters, as field tag `tagByte` (a one-byte tag) and
   * its one-byte length: true when written, false (nothing written) for any other string.
   * The caller has made room for it.
   */
  private shortAscii(tagByte: number, s: string): boolean {
    const n = s.length;
    if (n > 0x7f) return false;
    const buf = this.buf;
    const start = this.pos + 2;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return false;
      buf[start + i] = c;
    }
    buf[this.pos] = tagByte;
    buf[this.pos + 1] = n;
    this.pos = start + n;
    return true;
  }

  string(field: number, s: string): void {
    this.room(s.length + 2);
    if (field < 16 && this.shortAscii(field * 8 + LEN, s)) return;
    this.begin(field);
    this.room(s.length * 3);
    this.pos += this.buf.write(s, this.pos, 'utf8');
    this.end();
  }

  /**
   * A common/v1 KeyValue at `field` (under 16). A short ASCII key with a short ASCII
   * string, a small whole number or a boolean (nearly every attribute) is written in one
   * pass with its one-byte lengths filled in after; anything else through begin/end.
   */
  keyValue(field: number, key: string, value: AttributeValue): void {
    const at = this.pos;
    this.room(key.length + (typeof value === 'string' ? value.length : 0) + 16);
    this.pos = at + 2;
    if (this.key(key)) {
      const valueAt = this.pos;
      this.pos += 2;
      if (this.shortAnyValue(value)) {
        const len = this.pos - at - 2;
        if (len <= 0x7f) {
          const buf = this.buf;
          buf[at] = field * 8 + LEN;
          buf[at + 1] = len;
          buf[valueAt] = 0x12; // KeyValue.value
          buf[valueAt + 1] = this.pos - valueAt - 2;
          return;
        }
      }
    }
    this.pos = at;
    this.begin(field);
    this.string(1, key);
    this.begin(2);
    anyValue(this, value);
    this.end();
    this.end();
  }

  /** A KeyValue's key, short and ASCII: false (nothing written) for any other. */
  private key(key: string): boolean {
    const known = KEY_BYTES.get(key);
    if (known !== undefined) {
      this.buf.set(known, this.pos);
      this.pos += known.length;
      return true;
    }
    const at = this.pos;
    if (!this.shortAscii(0x0a /* KeyValue.key */, key)) return false;
    if (KEY_BYTES.size < MAX_KEYS) KEY_BYTES.set(key, new Uint8Array(this.buf.subarray(at, this.pos))); // a copy: the buffer is reused
    return true;
  }

  /** An AnyValue's content when it is a short ASCII string, a whole number in [0, 2^31) or a boolean: false (nothing written) otherwise. */
  private shortAnyValue(v: AttributeValue): boolean {
    if (typeof v === 'string') return this.shortAscii(0x0a /* string_value */, v);
    if (typeof v === 'boolean') {
      this.buf[this.pos++] = 0x10; // bool_value
      this.buf[this.pos++] = v ? 1 : 0;
      return true;
    }
    if (typeof v !== 'number' || !(v >= 0 && v <= 0x7fffffff) || (v | 0) !== v) return false;
    const buf = this.buf;
    buf[this.pos++] = 0x18; // int_value
    let n = v;
    while (n > 0x7f) {
      buf[this.pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    buf[this.pos++] = n;
    return true;
  }

  /** Bytes given as hex (ids, lower-case digits as ids.ts makes and trace-context.ts accepts). */
  hex(field: number, id: string): void {
    const n = id.length >> 1;
    this.tag(field, LEN);
    this.varint(n);
    this.room(n);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < id.length; i += 2) buf[p++] = (HEX_VALUE[id.charCodeAt(i)]! << 4) | HEX_VALUE[id.charCodeAt(i + 1)]!;
    this.pos = p;
  }

  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}

/**
 * Keys as written (tag, length, bytes), the first few hundred seen (the plugins' own
 * constant ones among them): copied instead of written character by character.
 */
const KEY_BYTES = new Map<string, Uint8Array>();
const MAX_KEYS = 512;

/** The value of each hex digit by character code (0 for anything else: ids are checked where they enter). */
const HEX_VALUE = new Uint8Array(128);
for (let i = 0; i < 16; i++) {
  HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i;
  HEX_VALUE['0123456789ABCDEF'.charCodeAt(i)] = i;
}

// common/v1 AnyValue
function anyValue(w: ProtoWriter, v: AttributeValue): void {
  if (typeof v === 'string') w.string(1, v);
  else if (typeof v === 'boolean') w.bool(2, v);
  else if (v instanceof DoubleValue) w.double(4, v.value);
  else if (Number.isInteger(v)) w.int64(3, v);
  else w.double(4, v);
}

// repeated common/v1 KeyValue at `field`
function keyValues(w: ProtoWriter, field: number, attrs: Attributes): void {
  for (let i = 0; i + 1 < attrs.length; i += 2) w.keyValue(field, attrs[i] as string, attrs[i + 1]!);
}

// trace/v1 Span
function span(w: ProtoWriter, s: SpanRecord): void {
  w.hex(1, s.traceId);
  w.hex(2, s.spanId);
  if (s.traceState !== '') w.string(3, s.traceState);
  if (s.parentSpanId !== undefined) w.hex(4, s.parentSpanId);
  w.string(5, s.name);
  w.uint(6, s.kind);
  w.nanos(7, epochMicros(s.start));
  w.nanos(8, epochMicros(s.end));
  keyValues(w, 9, s.attributes);
  if (s.status !== STATUS.UNSET) {
    w.begin(15);
    if (s.status === STATUS.ERROR && s.statusMessage !== '') w.string(2, s.statusMessage);
    w.uint(3, s.status);
    w.end();
  }
}

/** Who sent the spans: the resource's attributes and the instrumentation scope. */
export interface OtlpSource {
  resource: Attributes;
  scopeName: string;
  scopeVersion: string;
}

// encoding is synchronous: one writer (and its grown buffer) serves every batch
const writer = new ProtoWriter();

/** The body of `POST /v1/traces` (content-type `application/x-protobuf`) for `spans`. */
export function encodeExportRequest(source: OtlpSource, spans: readonly SpanRecord[]): Buffer {
  const w = writer;
  w.reset();
  w.begin(1, 3); // ExportTraceServiceRequest.resource_spans
  w.begin(1); // ResourceSpans.resource
  keyValues(w, 1, source.resource);
  w.end();
  w.begin(2, 3); // ResourceSpans.scope_spans
  w.begin(1); // ScopeSpans.scope
  w.string(1, source.scopeName);
  w.string(2, source.scopeVersion);
  w.end();
  for (const s of spans) {
    w.begin(2, 2); // ScopeSpans.spans
    span(w, s);
    w.end();
  }
  w.end();
  w.end();
  return w.finish();
}
