// openid-connect's bearer half: a token in `Authorization: Bearer …` (or X-Access-Token)
// checked locally as a JWT (public_key, or use_jwks: the provider's key set) or by the
// provider's introspection endpoint, then held to required_scopes and claim_validator's
// audience rules. The issuer must be one of claim_validator.issuer.valid_issuers, else the
// discovery document's issuer: when that cannot be had the token is refused (fail closed).
import { jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose';
import { verifyWithJwks } from './jwks-cache.js';
import { discover, introspect, TokenRejected } from './provider-calls.js';
import type { OidcPrepared } from './prepared.js';

export type BearerOutcome =
  | { ok: true; claims: Record<string, unknown>; via: 'jwt' | 'introspection' }
  /** status 401 (a bad token) or 403 (a good token without the scopes or audience asked for). */
  | { ok: false; status: 401 | 403; error: string };

/** The bearer token of a request: `Authorization: Bearer x`, else the X-Access-Token header. */
export function bearerToken(authorization: string | undefined, xAccessToken: string | undefined): string | undefined {
  if (authorization !== undefined) {
    const space = authorization.indexOf(' ');
    if (space > 0 && authorization.slice(0, space).toLowerCase() === 'bearer') {
      const token = authorization.slice(space + 1).trim();
      return token === '' ? undefined : token;
    }
    return undefined;
  }
  return xAccessToken === '' ? undefined : xAccessToken;
}

async function verifyJwt(p: OidcPrepared, token: string): Promise<JWTPayload> {
  const { conf } = p;
  let issuers = conf.claim_validator?.issuer?.valid_issuers;
  if (issuers === undefined || issuers.length === 0) {
    try {
      issuers = [(await discover(conf.discovery, p.client.policy)).issuer];
    } catch (err) {
      throw new Error(`issuer validation unavailable: ${(err as Error).message}`);
    }
  }
  const options: JWTVerifyOptions = {
    issuer: issuers,
    ...(conf.token_signing_alg_values_expected !== undefined ? { algorithms: [conf.token_signing_alg_values_expected] } : {}),
  };
  if (p.publicKey !== undefined) return (await jwtVerify(token, p.publicKey, options)).payload;
  const doc = await discover(conf.discovery, p.client.policy);
  if (doc.jwks_uri === undefined) throw new Error('the discovery document has no jwks_uri');
  return (await verifyWithJwks(token, doc.jwks_uri, { ...p.client.policy, ttlMs: conf.jwk_expires_in * 1000 }, options)).payload;
}

function scopesOf(claims: Record<string, unknown>): Set<string> {
  const scope = claims.scope ?? claims.scp;
  if (typeof scope === 'string') return new Set(scope.split(/\s+/).filter((s) => s !== ''));
  if (Array.isArray(scope)) return new Set(scope.filter((s): s is string => typeof s === 'string'));
  return new Set();
}

/** required_scopes against the claims' `scope` (or `scp`); undefined when they are granted. */
export function scopesRefusal(p: OidcPrepared, claims: Record<string, unknown>): string | undefined {
  const required = p.conf.required_scopes;
  if (required === undefined || required.length === 0) return undefined;
  const granted = scopesOf(claims);
  return required.every((s) => granted.has(s)) ? undefined : `required scopes ${required.join(', ')} not present`;
}

/** required_scopes and claim_validator.audience; undefined when the claims pass. */
export function claimsRefusal(p: OidcPrepared, claims: Record<string, unknown>): string | undefined {
  const { conf } = p;
  const scopes = scopesRefusal(p, claims);
  if (scopes !== undefined) return scopes;
  const audience = conf.claim_validator?.audience;
  const value = claims[audience?.claim ?? 'aud'];
  if ((audience?.required === true || audience?.match_with_client_id === true) && (value === undefined || value === null)) {
    return 'required audience claim not present';
  }
  if (audience?.match_with_client_id === true) {
    const matches = Array.isArray(value) ? value.includes(conf.client_id) : value === conf.client_id;
    if (!matches) return 'mismatched audience';
  }
  return undefined;
}

export async function checkBearer(p: OidcPrepared, token: string, signal: AbortSignal): Promise<BearerOutcome> {
  const { conf } = p;
  let claims: Record<string, unknown>;
  let via: 'jwt' | 'introspection';
  try {
    if (p.publicKey !== undefined || conf.use_jwks) {
      claims = await verifyJwt(p, token);
      via = 'jwt';
    } else {
      const endpoint = conf.introspection_endpoint ?? (await discover(conf.discovery, p.client.policy)).introspection_endpoint;
      if (endpoint === undefined) throw new Error('no introspection_endpoint configured or discovered');
      claims = await introspect(endpoint, p.client, conf.introspection_endpoint_auth_method, token, signal);
      via = 'introspection';
    }
  } catch (err) {
    const e = err as Error & { code?: string };
    // jose's errors and an inactive token are the token's fault; anything else is the provider's.
    const tokenFault = err instanceof TokenRejected || (typeof e.code === 'string' && e.code.startsWith('ERR_J'));
    return { ok: false, status: 401, error: tokenFault ? e.message : `token could not be checked: ${e.message}` };
  }
  const refusal = claimsRefusal(p, claims);
  if (refusal !== undefined) return { ok: false, status: 403, error: refusal };
  return { ok: true, claims, via };
}
