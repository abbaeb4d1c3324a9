// B3 propagation (https://github.com/openzipkin/b3-propagation), as APISIX's zipkin plugin
// reads it: the single `b3` header, else the `x-b3-*` headers.

export interface B3Context {
  /** As received; checked by isB3TraceId / isB3SpanId before use. */
  traceId: string | undefined;
  spanId: string | undefined;
  parentSpanId: string | undefined;
  /** `1`/`true` sampled, `0`/`false` not, `d` debug (counts as sampled); undefined: the receiver decides. */
  sampled: string | undefined;
}

/**
 * The single header: `{trace}-{span}[-{sampled}[-{parent}]]`, or `0` alone (not sampled).
 * A value with fewer than two parts is malformed: undefined (APISIX answers 400).
 */
export function parseB3Single(b3: string): B3Context | undefined {
  if (b3 === '0') return { traceId: undefined, spanId: undefined, parentSpanId: undefined, sampled: '0' };
  const parts = b3.split('-');
  if (parts.length < 2) return undefined;
  // at most four parts, the last one keeping any further dashes (ngx.re.split's limit)
  return { traceId: parts[0], spanId: parts[1], sampled: parts[2], parentSpanId: parts.length > 3 ? parts.slice(3).join('-') : undefined };
}

const HEX = /^[0-9a-fA-F]+$/;

/** 16 or 32 hex digits (a 64- or 128-bit trace id). */
export function isB3TraceId(id: string): boolean {
  return (id.length === 16 || id.length === 32) && HEX.test(id);
}

/** 16 hex digits. */
export function isB3SpanId(id: string): boolean {
  return id.length === 16 && HEX.test(id);
}
