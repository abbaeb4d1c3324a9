import type { HttpRequest } from '../http1/request.js';

// gRPC over HTTP/2 as the gateway sees it: which requests are gRPC, their deadline, and the
// status a response the gateway makes itself carries (grpc/doc/http-grpc-status-mapping.md).

export const GRPC_STATUS = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, DEADLINE_EXCEEDED: 4, UNIMPLEMENTED: 12, INTERNAL: 13,
  UNAVAILABLE: 14, PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, UNAUTHENTICATED: 16,
} as const;

/** An HTTP/2 request with a `application/grpc[+proto|+json…]` body (gRPC-Web is not: it has its own framing). */
export function isGrpcRequest(req: HttpRequest): boolean {
  if (req.httpVersion !== '2.0') return false;
  const type = req.headers['content-type'];
  return type !== undefined && type.startsWith('application/grpc') && !type.startsWith('application/grpc-web');
}

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000_001 };

/** `grpc-timeout` (1-8 digits and a unit, PROTOCOL-HTTP2.md) in ms; undefined when absent or malformed. */
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  if (value === undefined || value.length < 2 || value.length > 9) return undefined;
  const unit = UNIT_MS[value[value.length - 1]!];
  const digits = value.slice(0, -1);
  if (unit === undefined || !/^\d+$/.test(digits)) return undefined;
  return Number(digits) * unit;
}

/** The gRPC status of a response the gateway answers with HTTP `status` (the gRPC project's HTTP → gRPC mapping). */
export function grpcStatusOfHttp(status: number): number {
  switch (status) {
    case 200: return GRPC_STATUS.OK;
    case 400: return GRPC_STATUS.INTERNAL;
    case 401: return GRPC_STATUS.UNAUTHENTICATED;
    case 403: return GRPC_STATUS.PERMISSION_DENIED;
    case 404: return GRPC_STATUS.UNIMPLEMENTED;
    case 429: case 502: case 503: case 504: return GRPC_STATUS.UNAVAILABLE;
    default: return GRPC_STATUS.UNKNOWN;
  }
}

/** `grpc-message` is percent-encoded UTF-8 outside printable ASCII (and `%` itself). */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message)) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The message a gateway-made body says: its `error_msg` (JSON), its text, or the HTTP status. */
export function grpcMessageOf(status: number, body: Buffer | undefined): string {
  if (body === undefined || body.length === 0) return `HTTP status ${status}`;
  const text = body.toString().trim();
  try {
    const parsed = JSON.parse(text) as { error_msg?: unknown; message?: unknown };
    const msg = parsed.error_msg ?? parsed.message;
    if (typeof msg === 'string') return msg;
  } catch {
    // not JSON: the text as it is
  }
  return text.slice(0, 512);
}

/** A trailers-only response's fields (HTTP 200, END_STREAM on the HEADERS frame), as Envoy answers local replies on gRPC. */
export function trailersOnlyHeaders(grpcStatus: number, message: string): Record<string, string> {
  return { 'content-type': 'application/grpc', 'grpc-status': String(grpcStatus), 'grpc-message': encodeGrpcMessage(message) };
}
