// A finished span as the tracing plugins hand it to an exporter: plain data, ids in hex,
// times in `performance.now()` milliseconds (turned into wall-clock time when a batch is
// encoded, off the request path).

/** OTLP's SpanKind numbers (Zipkin's kinds are named from them). */
export const SPAN_KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3 } as const;
export type SpanKind = (typeof SPAN_KIND)[keyof typeof SPAN_KIND];

/** OTLP's status codes. */
export const STATUS = { UNSET: 0, OK: 1, ERROR: 2 } as const;
export type StatusCode = (typeof STATUS)[keyof typeof STATUS];

/** A number sent as a double even when it is whole (APISIX sends resource numbers so). */
export class DoubleValue {
  constructor(readonly value: number) {}
}

/** A string, a boolean, an integer (a whole number) or a double (any other number, or a DoubleValue). */
export type AttributeValue = string | number | boolean | DoubleValue;

/** Attributes as one flat list: key, value, key, value… (no object per attribute on the request path). */
export type Attributes = (string | AttributeValue)[];

export interface SpanRecord {
  traceId: string;
  spanId: string;
  /** undefined for a root span. */
  parentSpanId: string | undefined;
  /** W3C tracestate carried with the span ('' when none). */
  traceState: string;
  name: string;
  kind: SpanKind;
  start: number;
  end: number;
  attributes: Attributes;
  status: StatusCode;
  /** Only meaningful with STATUS.ERROR. */
  statusMessage: string;
}

// fixed for the life of the process, and reading it is a call into the runtime (~30 ns, four per request)
const TIME_ORIGIN = performance.timeOrigin;

/** Microseconds since the Unix epoch of a `performance.now()` time. */
export function epochMicros(ms: number): number {
  return Math.round((TIME_ORIGIN + ms) * 1000);
}
