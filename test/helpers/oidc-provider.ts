// A real OpenID provider (the oidc-provider package) on 127.0.0.1, for the openid-connect
// and jwt-auth tests. It listens first (so its issuer and discovery URL are known before the
// gateway starts), then `configure` registers the client whose redirect URIs point at the
// gateway. Its signing key is generated here, so a test can also mint tokens the provider
// would have signed (`sign`). `login` drives the authorization code flow headlessly:
// plain HTTP requests through oidc-provider's development interactions (the login and
// consent forms), following redirects and keeping the provider's cookies by hand.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import Provider from 'oidc-provider';

export interface OidcClientConfig {
  client_id: string;
  client_secret?: string;
  redirect_uris: string[];
  post_logout_redirect_uris?: string[];
  token_endpoint_auth_method?: 'client_secret_basic' | 'client_secret_post' | 'none';
}

export interface TestOidcProvider {
  issuer: string;
  discoveryUrl: string;
  jwksUri: string;
  /** The signing key's public half, PEM (SPKI). */
  publicKeyPem: string;
  /** Registers the clients and starts answering (until then every request gets 503). */
  configure(clients: OidcClientConfig[], opts?: { accessTokenTtl?: number }): void;
  /** A JWT signed with the provider's own key (iss: the issuer, unless `claims` says otherwise). */
  sign(claims: JWTPayload, opts?: { expiresIn?: string | number }): Promise<string>;
  /** How many requests each path got (e.g. '/jwks'). */
  hits: Map<string, number>;
  close(): Promise<void>;
}

export const TEST_ACCOUNT = 'alice';
const KID = 'test-signing-key';

export async function startOidcProvider(): Promise<TestOidcProvider> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const signingJwk: JWK = { ...(await exportJWK(privateKey)), kid: KID, alg: 'RS256', use: 'sig' };
  const hits = new Map<string, number>();
  let handler: ((req: http.IncomingMessage, res: http.ServerResponse) => void) | undefined;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    if (handler === undefined) { res.statusCode = 503; res.end(); return; }
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    issuer,
    discoveryUrl: `${issuer}/.well-known/openid-configuration`,
    jwksUri: `${issuer}/jwks`,
    publicKeyPem: await exportSPKI(publicKey),
    hits,
    configure(clients, opts = {}) {
      const provider = new Provider(issuer, {
        clients: clients.map((c) => ({ grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], ...c })),
        jwks: { keys: [signingJwk] },
        cookies: { keys: ['gatehouse-test-cookie-key'] },
        findAccount: (_ctx: unknown, id: string) => ({
          accountId: id,
          claims: () => ({ sub: id, email: `${id}@example.test`, name: 'Alice Tester' }),
        }),
        claims: { openid: ['sub'], email: ['email'], profile: ['name'] },
        features: { introspection: { enabled: true }, revocation: { enabled: true } },
        // Every code grant gets a refresh token (without asking for offline_access).
        issueRefreshToken: () => true,
        ttl: { AccessToken: opts.accessTokenTtl ?? 3600, IdToken: 3600, Interaction: 600, Session: 3600, Grant: 3600 },
      });
      // A failed flow should say why in the test output, not only in a redirect.
      provider.on('server_error', (_ctx, err) => console.error('oidc-provider server_error', err));
      handler = provider.callback();
    },
    sign(claims, opts = {}) {
      return new SignJWT({ iss: issuer, ...claims })
        .setProtectedHeader({ alg: 'RS256', kid: KID })
        .setIssuedAt()
        .setExpirationTime(opts.expiresIn ?? '10m')
        .sign(privateKey);
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Cookies of one browser, by name (paths and domains ignored: everything is on 127.0.0.1). */
export class CookieJar {
  readonly cookies = new Map<string, string>();

  store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === '' || /max-age=0\b/i.test(line) || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /** One request without following redirects, sending and keeping cookies. */
  async fetch(url: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.cookies.size > 0) headers.cookie = this.header();
    if (init.body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await fetch(url, { method: init.method ?? 'GET', body: init.body, headers, redirect: 'manual', signal: AbortSignal.timeout(5000) });
    this.store(res);
    return res;
  }
}

/**
 * From the provider's authorization URL, logs TEST_ACCOUNT in (and consents) through the
 * provider's forms; returns the URL the provider finally redirects to (the gateway's callback).
 */
export async function loginAtProvider(jar: CookieJar, authorizationUrl: string, issuer: string): Promise<string> {
  let url = authorizationUrl;
  for (let step = 0; step < 20; step++) {
    if (!url.startsWith(issuer)) return url;
    const res = await jar.fetch(url);
    const location = res.headers.get('location');
    if (location !== null) {
      await res.arrayBuffer();
      url = new URL(location, url).toString();
      continue;
    }
    const page = await res.text();
    if (res.status !== 200) throw new Error(`provider answered ${res.status} at ${url}: ${page.slice(0, 300)}`);
    const prompt = /name="prompt" value="(\w+)"/.exec(page)?.[1];
    const action = /<form[^>]*action="([^"]+)"[^>]*method="post"|<form[^>]*method="post"[^>]*action="([^"]+)"/i.exec(page);
    const target = action?.[1] ?? action?.[2];
    if (prompt === undefined || target === undefined) throw new Error(`no interaction form at ${url}: ${page.slice(0, 300)}`);
    const form = prompt === 'login' ? `prompt=login&login=${TEST_ACCOUNT}&password=x` : `prompt=${prompt}`;
    const posted = await jar.fetch(new URL(target, url).toString(), { method: 'POST', body: form });
    const next = posted.headers.get('location');
    await posted.arrayBuffer();
    if (next === null) throw new Error(`the ${prompt} form did not redirect (status ${posted.status})`);
    url = new URL(next, url).toString();
  }
  throw new Error('the provider kept redirecting');
}
