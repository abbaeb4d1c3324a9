import { createSecureContext, type SecureContext, type SecureVersion } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import type { Ssl } from '../../contracts/resources.js';
import { clientCertificateAccepted, compileSkipUris, type ClientAuthPolicy, type UriPattern } from './client-auth.js';

export interface SniOptions {
  protocols: string[];
  ciphers?: string;
  defaultSslId?: string;
}

const VERSION_ORDER = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

/**
 * Server certificates by SNI, built once per config snapshot. Exact names win over
 * wildcards, and a longer wildcard suffix wins over a shorter one.
 */
export class SniIndex {
  private readonly exact = new Map<string, SecureContext>();
  /** Keyed by the suffix after `*`, e.g. `.example.com`. */
  private readonly wildcard = new Map<string, SecureContext>();
  readonly defaultContext: SecureContext | undefined;
  /** Certificate options of the default ssl object, for clients that send no SNI at all. */
  readonly defaultOptions: { cert: string[]; key: string[] } | undefined;
  readonly size: number;
  /** TLS versions each context allows: version negotiation happens before SNI selects a context, so the listener checks it after the handshake. */
  private readonly versions = new WeakMap<SecureContext, ReadonlySet<string>>();
  /** Contexts of ssl objects with `client.ca`: connections for their names must present a client certificate. */
  private readonly clientAuth = new WeakMap<SecureContext, ClientAuthPolicy>();
  /** Whether any ssl object asks for client certificates: requests on other nodes skip the per-request check. */
  readonly hasClientAuth: boolean;

  constructor(ssls: (Ssl & { id: string })[], opts: SniOptions, onInvalid: (id: string, message: string) => void) {
    let fallback: SecureContext | undefined;
    let fallbackOptions: { cert: string[]; key: string[] } | undefined;
    let count = 0;
    let anyClientAuth = false;
    for (const ssl of ssls) {
      if (ssl.status === 0 || (ssl.type ?? 'server') !== 'server') continue;
      let ctx: SecureContext;
      let skipUris: UriPattern[] | undefined;
      try {
        ctx = contextOf(ssl, opts);
        skipUris = compileSkipUris(ssl.client?.skip_mtls_uri_regex);
      } catch (err) {
        onInvalid(ssl.id, (err as Error).message);
        continue;
      }
      count++;
      this.versions.set(ctx, new Set(ssl.ssl_protocols ?? opts.protocols));
      if (ssl.client !== undefined) {
        this.clientAuth.set(ctx, { depth: ssl.client.depth ?? 1, skipUris });
        anyClientAuth = true;
      }
      if (ssl.id === opts.defaultSslId) {
        fallback = ctx;
        fallbackOptions = { cert: [ssl.cert, ...(ssl.certs ?? [])], key: [ssl.key, ...(ssl.keys ?? [])] };
      }
      for (const name of ssl.snis ?? (ssl.sni !== undefined ? [ssl.sni] : [])) {
        const lower = name.toLowerCase();
        if (lower.startsWith('*.')) {
          if (!this.wildcard.has(lower.slice(1))) this.wildcard.set(lower.slice(1), ctx);
        } else if (!this.exact.has(lower)) this.exact.set(lower, ctx);
      }
    }
    this.defaultContext = fallback;
    this.defaultOptions = fallbackOptions;
    this.size = count;
    this.hasClientAuth = anyClientAuth;
  }

  /** The client certificate policy of the context chosen for a connection, if it has one. */
  policyOf(ctx: SecureContext): ClientAuthPolicy | undefined {
    return this.clientAuth.get(ctx);
  }

  /**
   * APISIX's per-request check for names whose ssl object has `client.ca`: a request for
   * such a Host must have come in on that very name (a connection made for a name without
   * mTLS must not reach these routes through its Host header), and a connection made for
   * such a name needs a verified client certificate unless the path matches
   * `skip_mtls_uri_regex`. Returns whether the request may go on.
   */
  admitsRequest(socket: TLSSocket, host: string, uri: string): boolean {
    const servername = typeof socket.servername === 'string' ? socket.servername.toLowerCase() : '';
    const connectionPolicy = this.clientAuthOf(servername);
    if (host !== servername && this.clientAuthOf(host, false) !== undefined) return false;
    if (connectionPolicy === undefined) return true;
    if (clientCertificateAccepted(socket, connectionPolicy)) return true;
    if (connectionPolicy.skipUris === undefined) return false;
    for (const re of connectionPolicy.skipUris) if (re.test(uri)) return true;
    return false;
  }

  /** The client certificate policy for a server name (`withDefault`: the default ssl object's for unknown names). */
  clientAuthOf(servername: string, withDefault = true): ClientAuthPolicy | undefined {
    const ctx = withDefault ? this.find(servername) : this.findNamed(servername);
    return ctx === undefined ? undefined : this.clientAuth.get(ctx);
  }

  /** Whether a connection that negotiated `protocol` for `servername` may stay open. */
  allowsProtocol(servername: string | undefined, protocol: string | null): boolean {
    const ctx = this.find(servername);
    if (ctx === undefined || protocol === null) return true;
    return this.versions.get(ctx)?.has(protocol) ?? true;
  }

  find(servername: string | undefined): SecureContext | undefined {
    if (servername === undefined || servername === '') return this.defaultContext;
    return this.findNamed(servername) ?? this.defaultContext;
  }

  /** The context of the ssl object whose `snis` cover this name (exact, then wildcards), without the default. */
  private findNamed(servername: string): SecureContext | undefined {
    const name = servername.toLowerCase();
    const hit = this.exact.get(name);
    if (hit !== undefined) return hit;
    // try `.b.c` then `.c` for `a.b.c`: the longest suffix first
    for (let dot = name.indexOf('.'); dot !== -1; dot = name.indexOf('.', dot + 1)) {
      const w = this.wildcard.get(name.slice(dot));
      if (w !== undefined) return w;
    }
    return undefined;
  }
}

function contextOf(ssl: Ssl, opts: SniOptions): SecureContext {
  const certs = [ssl.cert, ...(ssl.certs ?? [])];
  const keys = [ssl.key, ...(ssl.keys ?? [])];
  const protocols = (ssl.ssl_protocols ?? opts.protocols).slice().sort((a, b) => VERSION_ORDER.indexOf(a) - VERSION_ORDER.indexOf(b));
  return createSecureContext({
    cert: certs,
    key: keys,
    minVersion: protocols[0] as SecureVersion,
    maxVersion: protocols[protocols.length - 1] as SecureVersion,
    ciphers: opts.ciphers,
    // The CA list sent in the certificate request and the store the client's chain is verified against.
    ca: ssl.client?.ca,
  });
}
