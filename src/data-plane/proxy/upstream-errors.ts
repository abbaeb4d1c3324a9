import type { ErrorCode } from '../../core/errors.js';

/** Failure kinds passive health checks count. */
export type FailureKind = 'connect' | 'timeout' | 'reset' | 'tls';

export interface ClassifiedError {
  code: ErrorCode;
  kind: FailureKind;
  /** Safe to try another node: nothing reached the upstream's application yet, or it was a connect-level failure. */
  retryable: boolean;
}

// The upstream HTTP/1.1 client reports failures by code (GH_UPSTREAM_*, http1-client/errors.ts),
// sockets by errno, the HTTP/2 leg partly with undici's codes (UND_ERR_*). Message text is
// never inspected.
export function classifyUpstreamError(err: unknown): ClassifiedError {
  const code = (err as { code?: string } | undefined)?.code ?? '';
  switch (code) {
    case 'GH_UPSTREAM_INVALID_REQUEST':
      // the gateway (a plugin's rewrite) made a request HTTP/1.1 cannot carry: the Forwarder blames no node for a GH_ERR_INTERNAL
      return { code: 'GH_ERR_INTERNAL', kind: 'reset', retryable: false };
    case 'GH_UPSTREAM_CONNECT_TIMEOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return { code: 'GH_ERR_UPSTREAM_CONNECT_TIMEOUT', kind: 'timeout', retryable: true };
    case 'GH_UPSTREAM_READ_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return { code: 'GH_ERR_UPSTREAM_READ_TIMEOUT', kind: 'timeout', retryable: true };
    case 'GH_SEND_TIMEOUT':
      return { code: 'GH_ERR_UPSTREAM_SEND_TIMEOUT', kind: 'timeout', retryable: false };
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { code: 'GH_ERR_UPSTREAM_CONNECT_REFUSED', kind: 'connect', retryable: true };
    case 'GH_UPSTREAM_CLOSED':
    case 'GH_UPSTREAM_ABORTED':
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return { code: 'GH_ERR_UPSTREAM_RESET', kind: 'reset', retryable: true };
  }
  if (code === 'GH_UPSTREAM_BAD_RESPONSE' || code.startsWith('HPE_') || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || code === 'UND_ERR_INFO') {
    return { code: 'GH_ERR_UPSTREAM_BAD_RESPONSE', kind: 'reset', retryable: true };
  }
  if (code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || code.includes('CERT') || code === 'DEPTH_ZERO_SELF_SIGNED_CERT') {
    return { code: 'GH_ERR_UPSTREAM_TLS', kind: 'tls', retryable: true };
  }
  return { code: 'GH_ERR_UPSTREAM_BAD_RESPONSE', kind: 'reset', retryable: true };
}
