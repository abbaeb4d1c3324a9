// Who may use the Admin API: the client address must be in `admin.allow` (checked
// before anything else), then a key from `admin.keys` must come with the request, in
// the `X-API-KEY` header, the `api_key` query argument or the `x_api_key` cookie (as
// APISIX reads it). `viewer` keys may only read.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { compileIpMatcher, type IpMatcher } from '../core/ip-matcher.js';
import { AdminError } from './errors.js';

export interface AdminKey {
  name: string;
  key: string;
  role: 'admin' | 'viewer';
}

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** The client's address without the IPv4-mapped prefix. */
export function clientAddress(req: IncomingMessage): string {
  const a = req.socket.remoteAddress ?? '';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

function cookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) {
      const raw = part.slice(eq + 1).trim();
      try {
        return decodeURIComponent(raw);
      } catch {
        return raw;
      }
    }
  }
  return undefined;
}

/** The key a request carries: header first, then query argument, then cookie. */
export function presentedKey(req: IncomingMessage, query: URLSearchParams): string | undefined {
  const h = req.headers['x-api-key'];
  if (typeof h === 'string' && h !== '') return h;
  const q = query.get('api_key');
  if (q !== null && q !== '') return q;
  const c = cookie(req.headers.cookie, 'x_api_key');
  return c === '' ? undefined : c;
}

export class AdminAuth {
  private readonly allowed: IpMatcher;
  private readonly keys: { digest: Buffer; key: AdminKey }[];

  constructor(keys: readonly AdminKey[], allow: readonly string[]) {
    this.allowed = compileIpMatcher(allow);
    this.keys = keys.map((key) => ({ digest: digest(key.key), key }));
  }

  /** Throws 403 when the client's address is outside the allow list. */
  checkAddress(req: IncomingMessage): void {
    const ip = clientAddress(req);
    if (!this.allowed(ip)) throw new AdminError(403, `access from ${ip} is not allowed`);
  }

  /**
   * Finds the key the request carries and checks its role may use `method`. Digests of
   * equal length are compared with timingSafeEqual and every configured key is tried,
   * so the time taken says nothing about how much of a key was right, nor which one.
   */
  authenticate(req: IncomingMessage, query: URLSearchParams, method: string): AdminKey {
    const given = presentedKey(req, query);
    if (given === undefined) {
      throw new AdminError(401, 'failed to check token', { description: 'missing apikey' });
    }
    const d = digest(given);
    let found: AdminKey | undefined;
    for (const k of this.keys) {
      if (timingSafeEqual(d, k.digest) && found === undefined) found = k.key;
    }
    if (found === undefined) throw new AdminError(401, 'failed to check token', { description: 'wrong apikey' });
    if (found.role === 'viewer' && !READ_METHODS.has(method)) {
      throw new AdminError(403, 'failed to check token', { description: 'invalid method for role viewer' });
    }
    return found;
  }
}
