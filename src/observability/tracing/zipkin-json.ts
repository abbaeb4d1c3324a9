import { DoubleValue, epochMicros, SPAN_KIND, type SpanRecord } from './span.js';

// Zipkin's v2 JSON span model (POST /api/v2/spans, a JSON array), as APISIX's zipkin
// reporter fills it: times in microseconds, tags as strings, the caller's address as the
// remote endpoint (taken out of the `peer.ipv4` / `peer.port` tags, where APISIX keeps it).

/** Who reports the spans: `localEndpoint` of every span. */
export interface ZipkinLocalEndpoint {
  serviceName: string;
  /** Sent as `ipv6` when it is an IPv6 address. */
  ipv4: string | undefined;
  port: number | undefined;
}

const KINDS: Record<number, string | undefined> = { [SPAN_KIND.SERVER]: 'SERVER', [SPAN_KIND.CLIENT]: 'CLIENT' };

/** An address as an endpoint's `ipv4` or `ipv6` field (an IPv4-mapped IPv6 address is the IPv4 one). */
function addressField(ip: string | undefined): Record<string, string> {
  if (ip === undefined || ip === '') return {};
  const v4 = ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
  return v4.includes(':') ? { ipv6: v4 } : { ipv4: v4 };
}

/** One span in Zipkin's v2 JSON model. */
export function zipkinSpan(s: SpanRecord, local: ZipkinLocalEndpoint): Record<string, unknown> {
  const tags: Record<string, string> = {};
  let peerIp: string | undefined;
  let peerPort: number | undefined;
  const a = s.attributes;
  for (let i = 0; i + 1 < a.length; i += 2) {
    const key = a[i] as string;
    const v = a[i + 1]!;
    if (key === 'peer.ipv4') peerIp = String(v);
    else if (key === 'peer.port') peerPort = Number(v);
    else tags[key] = v instanceof DoubleValue ? String(v.value) : String(v);
  }
  const start = epochMicros(s.start);
  const out: Record<string, unknown> = { traceId: s.traceId, id: s.spanId };
  if (s.parentSpanId !== undefined) out.parentId = s.parentSpanId;
  out.name = s.name;
  const kind = KINDS[s.kind];
  if (kind !== undefined) out.kind = kind;
  out.timestamp = start;
  // Zipkin reads a duration of 0 as "unknown": a span always lasts at least a microsecond
  out.duration = Math.max(1, epochMicros(s.end) - start);
  out.localEndpoint = { serviceName: local.serviceName, ...addressField(local.ipv4), ...(local.port !== undefined ? { port: local.port } : {}) };
  if (peerPort !== undefined) out.remoteEndpoint = { ...addressField(peerIp), port: peerPort };
  out.tags = tags;
  return out;
}
