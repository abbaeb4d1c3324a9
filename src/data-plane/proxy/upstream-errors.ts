import type { ErrorCode } from '../../core/errors.js';

/** Failure kinds passive health checks count. */
export type FailureKind = 'connect' | 'timeout' | 'reset' | 'tls';

export interface ClassifiedError {
  code: ErrorCode;
  kind: FailureKind;
  /** Safe to try another node: nothing reached the upstream's application yet, or it was a connect-level failure. */
  retryable: boolean;
}

// Both upstream legs report failures by code: GH_UPSTREAM_* (http1-client/errors.ts, also
// used by the HTTP/2 leg), errno from sockets, ERR_TLS_* and certificate codes from TLS.
// Message text is never inspected.
export function classifyUpstreamError(err: unknown): ClassifiedError {
  const code = (err as { code?: string } | undefined)?.code ?? '';
  switch (code) {
    case 'GH_UPSTREAM_INVALID_REQUEST':
      // the gateway (a plugin's rewrite) made a request HTTP/1.1 cannot carry: the Forwarder blames no node for a GH_ERR_INTERNAL
      return { code: 'GH_ERR_INTERNAL', kind: 'reset', retryable: false };
    case 'GH_UPSTREAM_CONNECT_TIMEOUT':
      return { code: 'GH_ERR_UPSTREAM_CONNECT_TIMEOUT', kind: 'timeout', retryable: true };
    case 'GH_UPSTREAM_READ_TIMEOUT':
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
      return { code: 'GH_ERR_UPSTREAM_RESET', kind: 'reset', retryable: true };
  }
  if (code === 'GH_UPSTREAM_BAD_RESPONSE') {
    return { code: 'GH_ERR_UPSTREAM_BAD_RESPONSE', kind: 'reset', retryable: true };
  }
  if (code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || code.includes('CERT') || code === 'DEPTH_ZERO_SELF_SIGNED_CERT') {
    return { code: 'GH_ERR_UPSTREAM_TLS', kind: 'tls', retryable: true };
  }
  return { code: 'GH_ERR_UPSTREAM_BAD_RESPONSE', kind: 'reset', retryable: true };
}

/** Methods a failed attempt may repeat (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/**
 * The rule both legs retry by: a connect failure always may go to another node, any other
 * retryable failure only for an idempotent method. (Whether the body can be sent again and
 * `retries` / `retry_timeout` are the caller's to check: withinRetryBudget.)
 */
export function failureMayRetry(failure: ClassifiedError, method: string): boolean {
  return failure.kind === 'connect' || (failure.retryable && IDEMPOTENT.has(method));
}

/** Another attempt fits `retries` and `retry_timeout` (0: no time limit), counted from the first attempt. */
export function withinRetryBudget(attempts: number, up: { retries: number; retryTimeoutMs: number }, firstStart: number): boolean {
  return attempts < up.retries && (up.retryTimeoutMs === 0 || performance.now() - firstStart < up.retryTimeoutMs);
}
