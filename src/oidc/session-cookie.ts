// The openid-connect session, kept in the browser: one cookie sealed with AES-256-GCM
// (confidential and authenticated; the key is derived from `session.secret`, the cookie
// name is authenticated data, so a value cannot move to another cookie). It holds either
// a login in progress (state, nonce, PKCE verifier, where to go back) or the tokens of a
// finished one. Bounded: a session that would not fit in MAX_COOKIE_BYTES drops the
// userinfo first; one still too large is an error.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/** A login in progress: what the callback must find again. */
export interface PendingLogin {
  state: string;
  nonce: string;
  verifier?: string;
  /** The request URI to go back to once logged in. */
  url: string;
}

export interface SessionData {
  /** Seconds since the epoch: when the session ends whatever happens (absolute_timeout). */
  expires: number;
  pending?: PendingLogin;
  accessToken?: string;
  /** Seconds since the epoch, when the access token expires (absent: unknown, taken as valid). */
  accessExpires?: number;
  idToken?: string;
  refreshToken?: string;
  /** The scopes the token endpoint says it granted. */
  scope?: string;
  user?: unknown;
}

export interface CookieOptions {
  name: string;
  path: string;
  domain?: string;
  secure: boolean;
  httpOnly: boolean;
  sameSite?: 'Strict' | 'Lax' | 'None';
}

/** The most bytes of one Set-Cookie value (name, value and attributes): what every browser keeps. */
export const MAX_COOKIE_BYTES = 4096;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export function sessionKey(secret: string): Buffer {
  return createHash('sha256').update('gatehouse openid-connect session\u0000').update(secret).digest();
}

export function seal(data: SessionData, key: Buffer, cookieName: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(cookieName));
  const body = Buffer.concat([cipher.update(JSON.stringify(data), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
}

/** The session in a cookie value; undefined when it was not sealed with this key or has ended. */
export function unseal(value: string, key: Buffer, cookieName: string, nowSeconds = Date.now() / 1000): SessionData | undefined {
  const raw = Buffer.from(value, 'base64url');
  if (raw.length < IV_BYTES + TAG_BYTES + 2) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(cookieName));
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
    const text = Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    const data = JSON.parse(text) as SessionData;
    if (typeof data.expires !== 'number' || data.expires <= nowSeconds) return undefined;
    return data;
  } catch {
    return undefined;
  }
}

function attributes(opts: CookieOptions, maxAge: number): string {
  let out = `; Path=${opts.path}; Max-Age=${maxAge}`;
  if (opts.domain !== undefined) out += `; Domain=${opts.domain}`;
  if (opts.sameSite !== undefined) out += `; SameSite=${opts.sameSite}`;
  if (opts.secure) out += '; Secure';
  if (opts.httpOnly) out += '; HttpOnly';
  return out;
}

/** The Set-Cookie value storing `data`; throws when even without the userinfo it is too large. */
export function sessionCookie(data: SessionData, key: Buffer, opts: CookieOptions, nowSeconds = Date.now() / 1000): string {
  const maxAge = Math.max(0, Math.floor(data.expires - nowSeconds));
  let cookie = `${opts.name}=${seal(data, key, opts.name)}${attributes(opts, maxAge)}`;
  if (cookie.length > MAX_COOKIE_BYTES && data.user !== undefined) {
    const { user: _dropped, ...rest } = data;
    cookie = `${opts.name}=${seal(rest, key, opts.name)}${attributes(opts, maxAge)}`;
  }
  if (cookie.length > MAX_COOKIE_BYTES) throw new Error(`the session (${cookie.length} bytes) does not fit in a cookie of ${MAX_COOKIE_BYTES} bytes`);
  return cookie;
}

/** The Set-Cookie value removing the session. */
export function clearedCookie(opts: CookieOptions): string {
  return `${opts.name}=${attributes(opts, 0)}`;
}
