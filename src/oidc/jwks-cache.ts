// JSON Web Key Sets (RFC 7517) by URL, shared by openid-connect (use_jwks) and jwt-auth
// (a credential's jwks_uri): fetched and cached for a TTL (remote-json.ts: bounded reply,
// one fetch in flight, the last good set kept through an outage). A token whose `kid`
// is not in the cached set makes one refetch (a key rotation at the provider), at most
// once per JWKS_REFETCH_INTERVAL_MS per URL, so tokens with made-up kids cannot make the
// gateway hammer the provider.
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey, type JWTVerifyOptions, type JWTVerifyResult } from 'jose';
import { counter } from '../observability/metrics.js';
import { RemoteJsonCache, type FetchPolicy } from './remote-json.js';

/** APISIX's `jwk_expires_in` default (one day). */
export const DEFAULT_JWKS_TTL_MS = 86_400_000;
/** The least time between two fetches of one key set caused by unknown kids. */
export const JWKS_REFETCH_INTERVAL_MS = 2_000;
/** The most keys used from one set. */
export const MAX_JWKS_KEYS = 100;

const fetches = counter('gatehouse_jwks_fetches_total',
  'Fetches of a JSON Web Key Set (openid-connect use_jwks, jwt-auth jwks_uri), by outcome ok or error', ['outcome']);

interface KeySet {
  keys: JSONWebKeySet;
  resolve: JWTVerifyGetKey;
}

/** Checks a fetched document is a key set and builds its key resolver; throws when it is none. */
export function parseKeySet(json: unknown): KeySet {
  const keys = (json as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new Error('no "keys" array');
  const usable = keys.filter((k): k is JSONWebKeySet['keys'][number] => k !== null && typeof k === 'object'
    && typeof (k as { kty?: unknown }).kty === 'string'
    // Only signature keys: an encryption key never verifies a token.
    && ((k as { use?: unknown }).use === undefined || (k as { use?: unknown }).use === 'sig')).slice(0, MAX_JWKS_KEYS);
  const set = { keys: usable };
  return { keys: set, resolve: createLocalJWKSet(set) };
}

const cache = new RemoteJsonCache<KeySet>('JWKS', parseKeySet, (outcome) => fetches.inc({ outcome }));

export interface JwksPolicy extends FetchPolicy {
  ttlMs?: number;
}

function noMatchingKey(err: unknown): boolean {
  return (err as { code?: string }).code === 'ERR_JWKS_NO_MATCHING_KEY';
}

/**
 * Verifies a JWT against the key set at `uri` (key chosen by the token's `kid` and `alg`).
 * Throws jose's errors for a bad token, and an Error when the key set cannot be had.
 */
export async function verifyWithJwks(token: string, uri: string, policy: JwksPolicy, options: JWTVerifyOptions): Promise<JWTVerifyResult> {
  const ttl = policy.ttlMs ?? DEFAULT_JWKS_TTL_MS;
  const set = await cache.get(uri, policy, ttl);
  try {
    return await jwtVerify(token, set.resolve, options);
  } catch (err) {
    if (!noMatchingKey(err) || !(await cache.refresh(uri, policy, ttl, JWKS_REFETCH_INTERVAL_MS))) throw err;
  }
  return jwtVerify(token, (await cache.get(uri, policy, ttl)).resolve, options);
}
