// The one table from failure code to HTTP status and source. Control-plane code throws
// GatehouseError; data-plane code maps a code to a response through `statusOf`.

export type ErrorSource = 'client' | 'upstream' | 'plugin' | 'internal' | 'config';

interface ErrorSpec { status: number; source: ErrorSource; message: string }

export const ERRORS = {
  GH_ERR_ROUTE_NOT_FOUND: { status: 404, source: 'client', message: '404 Route Not Found' },
  GH_ERR_CLIENT_BAD_REQUEST: { status: 400, source: 'client', message: 'Bad Request' },
  GH_ERR_CLIENT_BAD_PATH: { status: 400, source: 'client', message: 'invalid request path' },
  GH_ERR_CLIENT_HEADERS_TOO_LARGE: { status: 431, source: 'client', message: 'Request Header Fields Too Large' },
  GH_ERR_CLIENT_BODY_TOO_LARGE: { status: 413, source: 'client', message: 'Request Entity Too Large' },
  GH_ERR_CLIENT_CERT_REQUIRED: { status: 400, source: 'client', message: 'No required SSL certificate was sent' },
  GH_ERR_CLIENT_TIMEOUT: { status: 408, source: 'client', message: 'Request Timeout' },
  GH_ERR_CLIENT_NOT_IMPLEMENTED: { status: 501, source: 'client', message: 'Not Implemented' },
  GH_ERR_CLIENT_HTTP_VERSION: { status: 505, source: 'client', message: 'HTTP Version Not Supported' },
  GH_ERR_UPSTREAM_NO_HEALTHY_NODE: { status: 503, source: 'upstream', message: 'no healthy upstream node' },
  GH_ERR_UPSTREAM_NOT_FOUND: { status: 502, source: 'config', message: 'upstream not found' },
  // service discovery (docs/discovery.md): APISIX's texts; the uninitialized one is answered with the type named
  GH_ERR_UPSTREAM_NO_VALID_NODE: { status: 503, source: 'upstream', message: 'no valid upstream node' },
  GH_ERR_DISCOVERY_UNINITIALIZED: { status: 503, source: 'config', message: 'discovery is uninitialized' },
  GH_ERR_SERVICE_NOT_FOUND: { status: 404, source: 'config', message: 'service not found' },
  // APISIX answers 503 when a route's plugin config or a consumer's group is gone (deleted with ?force=true)
  GH_ERR_PLUGIN_CONFIG_NOT_FOUND: { status: 503, source: 'config', message: 'plugin config not found' },
  GH_ERR_CONSUMER_GROUP_NOT_FOUND: { status: 503, source: 'config', message: 'consumer group not found' },
  GH_ERR_UPSTREAM_CONNECT_REFUSED: { status: 502, source: 'upstream', message: 'upstream connection refused' },
  GH_ERR_UPSTREAM_RESET: { status: 502, source: 'upstream', message: 'upstream connection reset' },
  GH_ERR_UPSTREAM_BAD_RESPONSE: { status: 502, source: 'upstream', message: 'invalid response from upstream' },
  GH_ERR_UPSTREAM_TLS: { status: 502, source: 'upstream', message: 'TLS handshake with upstream failed' },
  GH_ERR_UPSTREAM_CONNECT_TIMEOUT: { status: 504, source: 'upstream', message: 'upstream connect timed out' },
  GH_ERR_UPSTREAM_SEND_TIMEOUT: { status: 504, source: 'upstream', message: 'upstream send timed out' },
  GH_ERR_UPSTREAM_READ_TIMEOUT: { status: 504, source: 'upstream', message: 'upstream read timed out' },
  GH_ERR_UPSTREAM_DEADLINE: { status: 504, source: 'upstream', message: 'Deadline Exceeded' },
  GH_ERR_CLIENT_HTTP2_REQUIRED: { status: 426, source: 'client', message: 'this route proxies gRPC: use HTTP/2' },
  GH_ERR_WEBSOCKET_DISABLED: { status: 400, source: 'client', message: 'websocket is not enabled on this route' },
  GH_ERR_WEBSOCKET_H2_UPSTREAM: { status: 501, source: 'config', message: 'websocket to an HTTP/2 (grpc, grpcs, http2) upstream is not supported' },
  GH_ERR_PLUGIN_FAILED: { status: 500, source: 'plugin', message: 'Internal Server Error' },
  GH_ERR_PLUGIN_TIMEOUT: { status: 504, source: 'plugin', message: 'a plugin did not finish in time' },
  GH_ERR_CLIENT_GONE: { status: 499, source: 'client', message: 'client closed the connection' },
  GH_ERR_RESPONSE_BODY_TOO_LARGE: { status: 502, source: 'plugin', message: 'upstream response body too large for the gateway to buffer' },
  GH_ERR_INTERNAL: { status: 500, source: 'internal', message: 'Internal Server Error' },
  GH_ERR_CONFIG_INVALID: { status: 400, source: 'config', message: 'invalid configuration' },
  GH_ERR_STORE_CONFLICT: { status: 409, source: 'config', message: 'revision conflict' },
  GH_ERR_STORE_READ_ONLY: { status: 405, source: 'config', message: 'the store is read-only' },
  GH_ERR_STORE_NOT_FOUND: { status: 404, source: 'config', message: 'object not found' },
  GH_ERR_STORE_UNAVAILABLE: { status: 503, source: 'config', message: 'the configuration store cannot be written' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export class GatehouseError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly source: ErrorSource;
  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? ERRORS[code].message, options);
    this.name = 'GatehouseError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.source = ERRORS[code].source;
  }
}

export function statusOf(code: ErrorCode): number {
  return ERRORS[code].status;
}

export function isGatehouseError(err: unknown, code?: ErrorCode): err is GatehouseError {
  return err instanceof GatehouseError && (code === undefined || err.code === code);
}
