// Helpers shared by the auth plugins (key-auth, basic-auth, jwt-auth): credential
// tables built once per config snapshot, the anonymous-consumer fallback, the 401
// answer, constant-time comparison, and removing a credential from the upstream
// request (query argument or cookie).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ConsumerRef, PhaseResult, PluginContext } from '../../contracts/plugin.js';

/** One consumer (or credential) carrying an auth plugin, with that plugin's consumer config. */
export interface CredentialEntry<C = Record<string, unknown>> {
  readonly consumer: ConsumerRef;
  readonly conf: C;
}

// The runtime hands every route's `prepare` the same consumers array for one snapshot,
// so tables are built once per (snapshot, plugin, key field), not once per route.
const tables = new WeakMap<readonly ConsumerRef[], Map<string, Map<string, CredentialEntry>>>();

/**
 * key → consumer for one auth plugin, keyed by the consumer config field that
 * identifies it (key-auth `key`, basic-auth `username`, jwt-auth `key`). Duplicate keys
 * are refused at write time by the Admin API; should one slip through, the first wins.
 */
export function credentialTable<C = Record<string, unknown>>(
  consumers: readonly ConsumerRef[], plugin: string, field: string,
): ReadonlyMap<string, CredentialEntry<C>> {
  let perList = tables.get(consumers);
  if (perList === undefined) tables.set(consumers, (perList = new Map()));
  const id = `${plugin}\u0000${field}`;
  let table = perList.get(id);
  if (table === undefined) {
    table = new Map();
    for (const consumer of consumers) {
      const conf = consumer.plugins?.[plugin];
      if (conf === undefined || conf === null || typeof conf !== 'object') continue;
      const key = conf[field];
      if (typeof key !== 'string' || table.has(key)) continue;
      table.set(key, { consumer, conf });
    }
    perList.set(id, table);
  }
  return table as ReadonlyMap<string, CredentialEntry<C>>;
}

/** The consumer named by `anonymous_consumer` (the consumer itself, not one of its credentials). */
export function findAnonymousConsumer(consumers: readonly ConsumerRef[], username: string | undefined): ConsumerRef | undefined {
  if (username === undefined) return undefined;
  let fallback: ConsumerRef | undefined;
  for (const c of consumers) {
    if (c.username !== username) continue;
    if (c.credential_id === undefined) return c;
    fallback ??= c;
  }
  // A consumer known only through its credentials: use it without the credential id.
  return fallback === undefined ? undefined : { ...fallback, credential_id: undefined };
}

/**
 * A failed authentication under `anonymous_consumer`: attaches that consumer and lets the
 * request go on (undefined), or answers 401 when no consumer has that name.
 */
export function attachAnonymousConsumer(
  plugin: string, ctx: PluginContext, consumers: readonly ConsumerRef[], username: string, challenge: string,
): PhaseResult | undefined {
  const anon = findAnonymousConsumer(consumers, username);
  if (anon === undefined) {
    ctx.log.error(`${plugin} failed to authenticate the request, code: 401. error: anonymous consumer ${username} not found`);
    return unauthorized('Invalid user authorization', challenge);
  }
  ctx.attachConsumer(anon);
  return undefined;
}

/** The auth plugins' rejection: `401 {"message": …}` with a `WWW-Authenticate` challenge. */
export function unauthorized(message: string, challenge: string): PhaseResult {
  return { status: 401, body: { message }, headers: { 'WWW-Authenticate': challenge } };
}

/** The `realm` field of the auth plugins (printable ASCII without `"` and `\`). */
export function realmSchema(defaultValue: string): Record<string, unknown> {
  return {
    type: 'string',
    pattern: '^[\\x20-\\x21\\x23-\\x5B\\x5D-\\x7E]+$',
    default: defaultValue,
    minLength: 1,
    maxLength: 128,
  };
}

export const ANONYMOUS_CONSUMER_SCHEMA = { type: 'string', minLength: 1 } as const;

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** A secret kept as its SHA-256 digest, compared in constant time whatever the input's length. */
export class HashedSecret {
  private readonly hash: Buffer;
  constructor(secret: string) {
    this.hash = digest(secret);
  }
  matches(candidate: string): boolean {
    return timingSafeEqual(this.hash, digest(candidate));
  }
}

function decodeComponent(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/** `path?query` without every occurrence of the query argument `name` (others kept byte for byte). */
export function removeQueryArg(uri: string, name: string): string {
  const q = uri.indexOf('?');
  if (q < 0) return uri;
  const kept: string[] = [];
  let removed = false;
  for (const part of uri.slice(q + 1).split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (decodeComponent(eq < 0 ? part : part.slice(0, eq)) === name) {
      removed = true;
      continue;
    }
    kept.push(part);
  }
  if (!removed) return uri;
  return kept.length === 0 ? uri.slice(0, q) : `${uri.slice(0, q)}?${kept.join('&')}`;
}

/** The value of cookie `name` in a `Cookie` header, or undefined. */
export function getCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0) continue;
    if (pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return undefined;
}

/** The `Cookie` header without cookie `name`; undefined when nothing is left. */
export function removeCookie(header: string, name: string): string | undefined {
  const kept = header.split(';').map((p) => p.trim()).filter((p) => {
    if (p === '') return false;
    const eq = p.indexOf('=');
    return (eq < 0 ? p : p.slice(0, eq).trim()) !== name;
  });
  return kept.length === 0 ? undefined : kept.join('; ');
}
