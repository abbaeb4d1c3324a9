import { createRequire } from 'node:module';
import type { IncomingHttpHeaders } from 'node:http';
import { startLoopbackServer, type LoopbackServer } from './loopback-server.js';

// Local stand-ins for an OpenTelemetry Collector's OTLP/HTTP receiver and a Zipkin server,
// speaking the documented wire protocols: what the gateway sends is decoded with the
// official OpenTelemetry proto definitions (the protobufjs module generated from
// opentelemetry-proto that @opentelemetry/otlp-transformer ships), never with the
// gateway's own code.

type ProtoType = { decode(b: Uint8Array): unknown; toObject(m: unknown, o: Record<string, unknown>): Record<string, unknown> };
const root = createRequire(import.meta.url)('@opentelemetry/otlp-transformer/build/src/generated/root.js') as {
  opentelemetry: { proto: { collector: { trace: { v1: { ExportTraceServiceRequest: ProtoType } } } } };
};
const ExportTraceServiceRequest = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

export type AttrValue = string | number | boolean;

export interface DecodedSpan {
  resource: Record<string, AttrValue>;
  scope: { name: string; version: string };
  traceId: string;
  spanId: string;
  parentSpanId: string;
  traceState: string;
  name: string;
  /** 1 internal, 2 server, 3 client. */
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, AttrValue>;
  /** The attribute's AnyValue field: stringValue, intValue, doubleValue, boolValue. */
  attributeTypes: Record<string, string>;
  status: { code: number; message: string };
}

interface AnyValueObject { stringValue?: string; boolValue?: boolean; intValue?: string; doubleValue?: number }
interface KeyValueObject { key: string; value: AnyValueObject }

function attrs(list: KeyValueObject[] | undefined): { values: Record<string, AttrValue>; types: Record<string, string> } {
  const values: Record<string, AttrValue> = {};
  const types: Record<string, string> = {};
  for (const kv of list ?? []) {
    const [type, v] = Object.entries(kv.value)[0]!;
    types[kv.key] = type;
    values[kv.key] = type === 'intValue' ? Number(v) : v as AttrValue;
  }
  return { values, types };
}

const hex = (b: string | undefined): string => Buffer.from(b ?? '', 'base64').toString('hex');

/** Every span of one ExportTraceServiceRequest body, with its resource and scope. */
export function decodeOtlpTraces(body: Uint8Array): DecodedSpan[] {
  const msg = ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(body), { longs: String, bytes: String, defaults: true });
  const out: DecodedSpan[] = [];
  for (const rs of msg.resourceSpans as { resource?: { attributes?: KeyValueObject[] }; scopeSpans: { scope?: { name: string; version: string }; spans: Record<string, unknown>[] }[] }[]) {
    const resource = attrs(rs.resource?.attributes).values;
    for (const ss of rs.scopeSpans) {
      for (const s of ss.spans) {
        const a = attrs(s.attributes as KeyValueObject[]);
        const status = (s.status ?? {}) as { code?: number; message?: string };
        out.push({
          resource, scope: { name: ss.scope?.name ?? '', version: ss.scope?.version ?? '' },
          traceId: hex(s.traceId as string), spanId: hex(s.spanId as string), parentSpanId: hex(s.parentSpanId as string),
          traceState: s.traceState as string, name: s.name as string, kind: s.kind as number,
          startNs: BigInt(s.startTimeUnixNano as string), endNs: BigInt(s.endTimeUnixNano as string),
          attributes: a.values, attributeTypes: a.types, status: { code: status.code ?? 0, message: status.message ?? '' },
        });
      }
    }
  }
  return out;
}

export interface CollectorPost {
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface TraceCollector {
  url: string;
  /** host:port, the form opentelemetry's `collector.address` takes. */
  address: string;
  posts: CollectorPost[];
  /** Status the next posts get (default 200). */
  status: number;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 that records every POST and answers `status`. */
export async function startTraceCollector(): Promise<TraceCollector> {
  const collector: TraceCollector = { url: '', address: '', posts: [], status: 200, close: async () => undefined };
  const srv: LoopbackServer = await startLoopbackServer((req, res) => {
    collector.posts.push({ url: req.url, headers: req.headers, body: req.body });
    res.statusCode = collector.status;
    res.end();
  });
  collector.url = srv.url;
  collector.address = srv.url.slice('http://'.length);
  collector.close = () => {
    srv.server.closeAllConnections();
    return new Promise((r) => srv.server.close(() => r()));
  };
  return collector;
}

/** The OTLP spans posted to /v1/traces so far, in the order they came. */
export function otlpSpans(c: TraceCollector): DecodedSpan[] {
  return c.posts.filter((p) => p.url === '/v1/traces').flatMap((p) => decodeOtlpTraces(p.body));
}

/** A Zipkin v2 span as the JSON API carries it. */
export interface ZipkinSpan {
  traceId: string;
  id: string;
  parentId?: string;
  name: string;
  kind?: string;
  timestamp: number;
  duration: number;
  localEndpoint?: { serviceName?: string; ipv4?: string; port?: number };
  remoteEndpoint?: { ipv4?: string; port?: number };
  tags?: Record<string, string>;
}

/** The Zipkin spans posted to `path` so far (each post a JSON array). */
export function zipkinSpans(c: TraceCollector, path: string): ZipkinSpan[] {
  return c.posts.filter((p) => p.url === path).flatMap((p) => JSON.parse(p.body.toString('utf8')) as ZipkinSpan[]);
}
