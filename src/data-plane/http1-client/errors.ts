// Failures of the upstream HTTP/1.1 client, by code. proxy/upstream-errors.ts maps each
// code to the gateway's answer (502/504) and to what passive health checks count.

export type UpstreamFailureCode =
  | 'GH_UPSTREAM_CONNECT_TIMEOUT'
  | 'GH_UPSTREAM_READ_TIMEOUT'
  /** The connection closed before the whole response arrived. */
  | 'GH_UPSTREAM_CLOSED'
  /** The response broke HTTP/1.1 framing or syntax (the parser's reason is the message). */
  | 'GH_UPSTREAM_BAD_RESPONSE'
  /** The request cannot be written: a rewritten path, method or Host holds bytes HTTP/1.1 forbids there. */
  | 'GH_UPSTREAM_INVALID_REQUEST'
  /** The request was given up by the caller (client gone, a plugin failed) without a reason of its own. */
  | 'GH_UPSTREAM_ABORTED';

export function upstreamFailure(code: UpstreamFailureCode, message: string): Error {
  return Object.assign(new Error(message), { code });
}
