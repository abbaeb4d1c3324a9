import type { ErrorCode } from '../core/errors.js';

/**
 * Thrown by a body_filter handler that cannot produce the response at all (a body over
 * a node bound): unlike other body_filter errors, which are logged and leave the chunk
 * as it was, it fails the request: with the code's status (502) when no byte of the
 * response went out yet, by closing the connection otherwise. The message is logged.
 */
export class ResponseFailure extends Error {
  constructor(message: string, readonly code: ErrorCode = 'GH_ERR_RESPONSE_BODY_TOO_LARGE') {
    super(message);
    this.name = 'ResponseFailure';
  }
}
