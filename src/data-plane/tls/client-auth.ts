import { compilePcre } from '../../core/expr/pcre.js';
import type { TLSSocket } from 'node:tls';

/**
 * Client certificate verification (mTLS) of one ssl object: `client.ca`, `client.depth`
 * and `client.skip_mtls_uri_regex`, as APISIX applies them.
 */
export interface ClientAuthPolicy {
  /** The longest chain allowed above the client certificate (nginx `ssl_verify_depth`): 1 = signed by the CA itself. */
  readonly depth: number;
  /**
   * With skip patterns the handshake accepts any (or no) client certificate and each
   * request is checked instead, so matching URIs go through without one (APISIX's rule).
   * Without them a missing or untrusted certificate fails the handshake.
   */
  readonly skipUris: readonly UriPattern[] | undefined;
}

/** The TLSSocket fields node's own verification reads after the handshake (`_tls_wrap.js`). */
interface VerifiableSocket {
  _handle: { setVerifyMode(request: boolean, reject: boolean): void; verifyError(): Error | null } | null;
  _requestCert: boolean;
  _rejectUnauthorized: boolean;
}

const verdicts = new WeakMap<TLSSocket, boolean>();

/**
 * Called from the SNI callback, before the server's hello: node sets the verify mode
 * per server, not per SecureContext, so a listener asks only the connections whose name
 * needs a client certificate. The context chosen for the name carries the CA.
 */
export function requestClientCertificate(socket: TLSSocket, policy: ClientAuthPolicy): void {
  const s = socket as unknown as VerifiableSocket | undefined;
  // Not a socket (a node version that calls the callback differently): nothing is asked,
  // and the per-request check refuses these names for want of a verified certificate.
  if (s?._handle == null) return;
  const reject = policy.skipUris === undefined;
  s._handle.setVerifyMode(true, reject);
  s._requestCert = true;
  s._rejectUnauthorized = reject;
  // Node's own check (registered first) refuses a missing or untrusted certificate; the
  // chain depth is ours. Destroying before node's check would crash it (it reads the
  // handle); after it, the connection has been handed over but has read nothing yet.
  if (reject) {
    socket.once('secure', () => {
      if (!socket.destroyed && !clientCertificateAccepted(socket, policy)) socket.destroy();
    });
  }
}

/** Whether the socket presented a certificate the CA verified within the allowed depth. */
export function clientCertificateAccepted(socket: TLSSocket, policy: ClientAuthPolicy): boolean {
  let verdict = verdicts.get(socket);
  if (verdict === undefined) {
    const handle = (socket as unknown as VerifiableSocket)._handle;
    verdict = handle !== null && handle.verifyError() === null && chainDepth(socket) <= policy.depth;
    verdicts.set(socket, verdict);
  }
  return verdict;
}

/**
 * The number of certificates above the client's in its verified chain, the trusted root
 * counted whether or not the client sent it.
 */
function chainDepth(socket: TLSSocket): number {
  let cert = socket.getPeerCertificate(true);
  if (cert === null || Object.keys(cert).length === 0) return Infinity;
  let depth = 0;
  while (cert.issuerCertificate !== undefined && cert.issuerCertificate !== cert
    && cert.issuerCertificate.fingerprint256 !== cert.fingerprint256) {
    depth++;
    cert = cert.issuerCertificate;
  }
  const selfSigned = cert.issuerCertificate === cert || cert.issuerCertificate?.fingerprint256 === cert.fingerprint256;
  return selfSigned ? depth : depth + 1;
}

/** A `skip_mtls_uri_regex` pattern, compiled for the linear-time engine (RE2). */
export interface UriPattern { test(uri: string): boolean }

/** Compiles `skip_mtls_uri_regex` (PCRE syntax, run on RE2); throws on a pattern RE2 cannot run in linear time. */
export function compileSkipUris(patterns: readonly string[] | undefined): UriPattern[] | undefined {
  if (patterns === undefined) return undefined;
  return patterns.map((p) => compilePcre(p, false));
}
