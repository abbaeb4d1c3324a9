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
 * One growable buffer the whole request is written into. A length-delimited field (a
 * nested message, a string) reserves one byte for its length and fixes it once its content
 * is written: the content is moved along in the rare case its length needs more bytes (a
 * span over 127 bytes), instead of writing every nested message into a buffer of its own.
 */
class ProtoWriter {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private pos = 0;
  /** Where each open length-delimited field's length byte is. */
  private readonly open: number[] = [];

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
    this.pos = this.buf.writeUInt32LE(low - carry * 0x100000000, this.pos);
    this.pos = this.buf.writeUInt32LE(high * 1000 + carry, this.pos);
  }

  /** Opens a length-delimited field; `end()` closes the latest one. */
  begin(field: number): void {
    this.tag(field, LEN);
    this.room(1);
    this.open.push(this.pos++);
  }

  end(): void {
    const at = this.open.pop()!;
    const len = this.pos - at - 1;
    if (len < 0x80) {
      this.buf[at] = len;
      return;
    }
    let extra = 0;
    for (let n = len; n > 0x7f; n = Math.floor(n / 128)) extra++;
    this.room(extra);
    this.buf.copyWithin(at + 1 + extra, at + 1, this.pos);
    const end = this.pos + extra;
    this.pos = at;
    this.varint(len);
    this.pos = end;
  }

  string(field: number, s: string): void {
    this.begin(field);
    this.room(s.length * 3);
    // short ASCII (attribute keys, methods, paths) byte by byte: cheaper than a call into Buffer.write
    const buf = this.buf;
    const start = this.pos;
    let i = 0;
    if (s.length <= 64) {
      for (; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[start + i] = c;
      }
    }
    this.pos = i === s.length ? start + i : start + buf.write(s, start, 'utf8');
    this.end();
  }

  /** Bytes given as hex (ids). */
  hex(field: number, id: string): void {
    this.begin(field);
    this.room(id.length >> 1);
    this.pos += this.buf.write(id, this.pos, 'hex');
    this.end();
  }

  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
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
  for (let i = 0; i + 1 < attrs.length; i += 2) {
    w.begin(field);
    w.string(1, attrs[i] as string);
    w.begin(2);
    anyValue(w, attrs[i + 1]!);
    w.end();
    w.end();
  }
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

/** The body of `POST /v1/traces` (content-type `application/x-protobuf`) for `spans`. */
export function encodeExportRequest(source: OtlpSource, spans: readonly SpanRecord[]): Buffer {
  const w = new ProtoWriter();
  w.begin(1); // ExportTraceServiceRequest.resource_spans
  w.begin(1); // ResourceSpans.resource
  keyValues(w, 1, source.resource);
  w.end();
  w.begin(2); // ResourceSpans.scope_spans
  w.begin(1); // ScopeSpans.scope
  w.string(1, source.scopeName);
  w.string(2, source.scopeVersion);
  w.end();
  for (const s of spans) {
    w.begin(2); // ScopeSpans.spans
    span(w, s);
    w.end();
  }
  w.end();
  w.end();
  return w.finish();
}
