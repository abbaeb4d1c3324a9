// What openid-connect asks the OpenID provider: its discovery document (cached,
// remote-json.ts), the token endpoint (authorization code and refresh grants), token
// introspection (RFC 7662) and userinfo. Client authentication: client_secret_basic
// (RFC 6749 2.3.1: the id and secret form-encoded, then Basic), client_secret_post, or
// none (a public client using PKCE).
import { counter } from '../observability/metrics.js';
import { providerRequest, RemoteJsonCache, type FetchPolicy } from './remote-json.js';

export interface DiscoveryDocument {
  issuer: string;
  authorization_endpoint?: string;
  token_endpoint?: string;
  userinfo_endpoint?: string;
  jwks_uri?: string;
  introspection_endpoint?: string;
  end_session_endpoint?: string;
}

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post';

export interface OidcClient {
  clientId: string;
  clientSecret: string | undefined;
  policy: FetchPolicy;
}

/** lua-resty-openidc's discovery cache lifetime (one day). */
export const DISCOVERY_TTL_MS = 86_400_000;

const providerCalls = counter('gatehouse_openid_connect_provider_calls_total',
  'Requests openid-connect made to the OpenID provider, by endpoint (discovery, token, introspection, userinfo) and outcome (ok or error)',
  ['endpoint', 'outcome']);

const URL_FIELDS = ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri', 'introspection_endpoint', 'end_session_endpoint'] as const;

export function parseDiscovery(json: unknown): DiscoveryDocument {
  const doc = json as Record<string, unknown> | null;
  if (doc === null || typeof doc !== 'object' || typeof doc.issuer !== 'string') throw new Error('no "issuer"');
  const out: DiscoveryDocument = { issuer: doc.issuer };
  for (const field of URL_FIELDS) {
    const v = doc[field];
    if (typeof v === 'string' && /^https?:\/\//.test(v)) out[field] = v;
  }
  return out;
}

const discoveries = new RemoteJsonCache<DiscoveryDocument>('discovery document', parseDiscovery,
  (outcome) => providerCalls.inc({ endpoint: 'discovery', outcome }));

export function discover(url: string, policy: FetchPolicy): Promise<DiscoveryDocument> {
  return discoveries.get(url, policy, DISCOVERY_TTL_MS);
}

function formEncode(s: string): string {
  return encodeURIComponent(s).replace(/%20/g, '+');
}

function withClientAuth(client: OidcClient, method: ClientAuthMethod, form: Record<string, string>): { headers: Record<string, string>; form: Record<string, string> } {
  if (client.clientSecret === undefined) return { headers: {}, form: { ...form, client_id: client.clientId } };
  if (method === 'client_secret_post') {
    return { headers: {}, form: { ...form, client_id: client.clientId, client_secret: client.clientSecret } };
  }
  const basic = Buffer.from(`${formEncode(client.clientId)}:${formEncode(client.clientSecret)}`).toString('base64');
  return { headers: { authorization: `Basic ${basic}` }, form };
}

type Json = Record<string, unknown>;

async function call(endpoint: 'token' | 'introspection' | 'userinfo', url: string, client: OidcClient,
  init: Parameters<typeof providerRequest>[2], signal: AbortSignal): Promise<Json> {
  try {
    const reply = await providerRequest(url, client.policy, { ...init, signal });
    const json = reply.json;
    if (reply.status !== 200 || json === null || typeof json !== 'object' || Array.isArray(json)) {
      const why = (json as Json | undefined)?.error;
      throw new Error(`${endpoint} endpoint answered ${reply.status}${typeof why === 'string' ? ` (${why})` : ''}`);
    }
    providerCalls.inc({ endpoint, outcome: 'ok' });
    return json as Json;
  } catch (err) {
    providerCalls.inc({ endpoint, outcome: 'error' });
    throw err;
  }
}

export interface TokenSet {
  access_token?: string;
  id_token?: string;
  refresh_token?: string;
  expires_in?: number;
  scope?: string;
}

/** A grant at the token endpoint (authorization_code or refresh_token). */
export async function tokenGrant(tokenEndpoint: string, client: OidcClient, method: ClientAuthMethod,
  params: Record<string, string>, signal: AbortSignal): Promise<TokenSet> {
  const { headers, form } = withClientAuth(client, method, params);
  const json = await call('token', tokenEndpoint, client, { method: 'POST', headers, form }, signal);
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  return {
    access_token: str(json.access_token), id_token: str(json.id_token), refresh_token: str(json.refresh_token),
    expires_in: typeof json.expires_in === 'number' ? json.expires_in : undefined, scope: str(json.scope),
  };
}

/** RFC 7662: the introspection reply of an active token; throws when the token is not active. */
export async function introspect(endpoint: string, client: OidcClient, method: ClientAuthMethod,
  token: string, signal: AbortSignal): Promise<Json> {
  const { headers, form } = withClientAuth(client, method, { token, token_type_hint: 'access_token' });
  const json = await call('introspection', endpoint, client, { method: 'POST', headers, form }, signal);
  if (json.active !== true) throw new TokenRejected('token is not active');
  return json;
}

export async function userinfo(endpoint: string, client: OidcClient, accessToken: string, signal: AbortSignal): Promise<Json> {
  return call('userinfo', endpoint, client, { headers: { authorization: `Bearer ${accessToken}` } }, signal);
}

/** The provider answered, and the answer is that the token is no good (a 401, not a 503). */
export class TokenRejected extends Error {}
