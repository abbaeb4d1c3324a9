// Object ids: checking the ones clients send in paths, and generating the ones POST creates.
import { AdminError } from './errors.js';

const ID_PATTERN = /^[a-zA-Z0-9-_.]+$/;
const USERNAME_PATTERN = /^[a-zA-Z0-9_-]+$/;

/**
 * Checks an id taken from the request path (already percent-decoded). APISIX's id
 * pattern admits `.` and `..`, which name no object and turn into path traversal in
 * keys and URLs, so ids made only of dots are refused as well.
 */
export function checkPathId(id: string, label: string, opts: { username?: boolean; max?: number | undefined } = {}): void {
  const pattern = opts.username === true ? USERNAME_PATTERN : ID_PATTERN;
  const max = opts.max ?? (opts.username === true ? 256 : 64);
  if (id.length === 0 || id.length > max || !pattern.test(id) || /^\.+$/.test(id)) {
    throw new AdminError(400, `invalid ${label} id ${JSON.stringify(id)}: use 1 to ${max} characters of ${
      opts.username === true ? 'a-z A-Z 0-9 _ -' : 'a-z A-Z 0-9 - _ .'}`);
  }
}

/**
 * Ids for POST: 20 digits, like APISIX's zero-padded etcd revisions, so they sort in
 * creation order as strings. Milliseconds since the epoch times 10^7 plus a sequence:
 * unique within the process, and increasing across restarts as long as the clock does
 * (a collision with an existing id is caught by the create-only compare-and-swap).
 */
export class IdGenerator {
  private last = 0n;

  next(now = Date.now()): string {
    const base = BigInt(now) * 10_000_000n;
    this.last = base > this.last ? base : this.last + 1n;
    return this.last.toString().padStart(20, '0');
  }
}
