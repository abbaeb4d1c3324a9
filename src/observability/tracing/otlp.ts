import { DoubleValue, epochMicros, STATUS, type Attributes, type AttributeValue, type SpanRecord } from './span.js';

// OTLP/HTTP's binary body: an ExportTraceServiceRequest (opentelemetry-proto,
// collector/trace/v1) in protobuf. Only the few messages and wire types a trace export
// needs are written, so this is a small writer of our own rather than a protobuf runtime:
// varints, 64-bit little-endian fields and length-delimited fields. The tests decode its
// output with the official definitions (the protobufjs root generated from
// opentelemetry-proto), not with anything here.

const VARINT = 0;
const I64 = 1;
const LEN = 2;

/** A growable buffer of protobuf fields; a nested message is written into its own and copied in. */
class ProtoWriter {
  private buf = Buffer.allocUnsafe(256);
  private pos = 0;

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

  /** fixed64 nanoseconds since the epoch, from microseconds. */
  nanos(field: number, micros: number): void {
    this.tag(field, I64);
    this.room(8);
    this.pos = this.buf.writeBigUInt64LE(BigInt(micros) * 1000n, this.pos);
  }

  bytes(field: number, b: Buffer): void {
    this.tag(field, LEN);
    this.varint(b.length);
    this.room(b.length);
    this.pos += b.copy(this.buf, this.pos);
  }

  string(field: number, s: string): void {
    const n = Buffer.byteLength(s);
    this.tag(field, LEN);
    this.varint(n);
    this.room(n);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  hex(field: number, id: string): void {
    this.bytes(field, Buffer.from(id, 'hex'));
  }

  message(field: number, write: (w: ProtoWriter) => void): void {
    const inner = new ProtoWriter();
    write(inner);
    this.bytes(field, inner.finish());
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
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
    const value = attrs[i + 1]!;
    w.message(field, (kv) => {
      kv.string(1, attrs[i] as string);
      kv.message(2, (av) => anyValue(av, value));
    });
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
    w.message(15, (st) => {
      if (s.status === STATUS.ERROR && s.statusMessage !== '') st.string(2, s.statusMessage);
      st.uint(3, s.status);
    });
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
  // ExportTraceServiceRequest.resource_spans
  w.message(1, (rs) => {
    rs.message(1, (res) => keyValues(res, 1, source.resource));
    // ResourceSpans.scope_spans
    rs.message(2, (ss) => {
      ss.message(1, (scope) => {
        scope.string(1, source.scopeName);
        scope.string(2, source.scopeVersion);
      });
      for (const s of spans) ss.message(2, (sw) => span(sw, s));
    });
  });
  return w.finish();
}
