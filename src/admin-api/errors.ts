// Admin API failures. Every answer to bad client input is a 4xx with `{"error_msg": ...}`
// (APISIX's body); handlers throw AdminError and the server turns it into the response.
import { isGatehouseError } from '../core/errors.js';

export class AdminError extends Error {
  constructor(readonly status: number, message: string, readonly extra?: Record<string, unknown>) {
    super(message);
    this.name = 'AdminError';
  }
}

export const keyNotFound = (): AdminError => new AdminError(404, 'Key not found');

export function badRequest(message: string): AdminError {
  return new AdminError(400, message);
}

/**
 * Maps anything a handler threw to a status and body. Validation errors from the config
 * store layer keep their (APISIX) message; a store that cannot be written (read-only
 * standalone) answers with its own status; anything unexpected is the server's fault.
 */
export function toAdminError(err: unknown): AdminError {
  if (err instanceof AdminError) return err;
  if (isGatehouseError(err)) {
    if (err.code === 'GH_ERR_CONFIG_INVALID') return new AdminError(400, err.message);
    if (err.code === 'GH_ERR_STORE_CONFLICT') return new AdminError(409, 'value changed before overwritten');
    return new AdminError(err.status, err.message);
  }
  // The stack overflows on pathological input (deep nesting) even after the depth check
  // in parseJsonBody, e.g. inside a plugin checker: still the client's input.
  if (err instanceof RangeError && /call stack/i.test(err.message)) {
    return new AdminError(400, 'invalid request body: nested too deeply');
  }
  return new AdminError(500, 'internal error');
}
