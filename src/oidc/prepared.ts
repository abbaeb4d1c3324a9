// openid-connect's configuration (APISIX's field names) and what `prepare` compiles
// from it, shared by the bearer-token and the authorization-code halves.
import type { KeyObject } from 'node:crypto';
import type { ProxyOpts } from './outbound-proxy.js';
import type { CookieOptions } from './session-cookie.js';
import type { ClientAuthMethod, OidcClient } from './provider-calls.js';

export interface OpenIdConnectConf {
  client_id: string;
  client_secret?: string;
  discovery: string;
  scope: string;
  ssl_verify: boolean;
  timeout: number;
  introspection_endpoint?: string;
  introspection_endpoint_auth_method: ClientAuthMethod;
  token_endpoint_auth_method: ClientAuthMethod;
  bearer_only: boolean;
  session?: {
    secret: string;
    cookie_name?: string;
    cookie_path?: string;
    cookie_domain?: string;
    cookie_secure?: boolean;
    cookie_http_only?: boolean;
    cookie_same_site?: 'Strict' | 'Lax' | 'None' | 'Default';
    absolute_timeout?: number;
  };
  realm: string;
  claim_validator?: {
    issuer?: { valid_issuers?: string[] };
    audience?: { claim?: string; required?: boolean; match_with_client_id?: boolean };
  };
  logout_path: string;
  redirect_uri?: string;
  post_logout_redirect_uri?: string;
  unauth_action: 'auth' | 'deny' | 'pass';
  public_key?: string;
  use_jwks: boolean;
  token_signing_alg_values_expected?: string;
  use_pkce: boolean;
  set_access_token_header: boolean;
  access_token_in_authorization_header: boolean;
  set_id_token_header: boolean;
  set_raw_id_token_header: boolean;
  set_userinfo_header: boolean;
  set_refresh_token_header: boolean;
  authorization_params?: Record<string, string>;
  renew_access_token_on_expiry: boolean;
  access_token_expires_in?: number;
  access_token_expires_leeway: number;
  jwk_expires_in: number;
  iat_slack: number;
  required_scopes?: string[];
  proxy_opts?: ProxyOpts;
}

export interface OidcPrepared {
  conf: OpenIdConnectConf;
  client: OidcClient;
  /** Whether a bearer token in the request is checked (bearer_only, introspection_endpoint, public_key, use_jwks). */
  checksBearer: boolean;
  publicKey: KeyObject | undefined;
  /** The session's AES key and cookie; undefined with bearer_only. */
  sessionKey: Buffer | undefined;
  /** The cookie's attributes but Secure, which is decided per request (cookieSecure). */
  cookie: CookieOptions;
  /** session.cookie_secure; undefined: Secure when the request came over https. */
  cookieSecure: boolean | undefined;
  /** Seconds a session lasts at most. */
  sessionLifetime: number;
  /** The path the provider redirects back to; undefined: `<uri>/.apisix/redirect` of each request. */
  callbackPath: string | undefined;
  /** Bearer challenge, `Bearer realm="…"`. */
  challenge: string;
}

/** APISIX's default callback suffix when redirect_uri is not configured. */
export const REDIRECT_SUFFIX = '/.apisix/redirect';
