import http2, { type ClientHttp2Session } from 'node:http2';
import type { BalancerNode } from '../../contracts/balancer.js';
import { upstreamFailure } from '../http1-client/errors.js';
import { urlHost } from '../../core/host-port.js';

// HTTP/2 upstream sessions (schemes grpc and http2: h2c by prior knowledge; grpcs: h2 by ALPN over TLS),
// one per (node, connection settings). A session multiplexes every request to its node;
// one that is closing (GOAWAY), failed or timed out idle is replaced by the next request.
// node:http2 rather than undici's allowH2: undici 7 speaks h2 only after ALPN (no h2c
// prior knowledge), and gRPC needs both plus response trailers as they arrive.

/** A connect that did not finish within `timeout.connect`; the same failure as the HTTP/1.1 client's. */
function connectTimeout(): Error {
  return upstreamFailure('GH_UPSTREAM_CONNECT_TIMEOUT', 'upstream connect timed out');
}

/** What a session is opened with: the upstream's pool settings (pools.ts PoolSettings), as far as HTTP/2 uses them. */
export interface H2SessionSettings {
  scheme: string;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  verifyTls: boolean;
  clientCert?: string;
  clientKey?: string;
  clientIdentity?: string;
  servername?: string;
}

export interface H2Session {
  readonly session: ClientHttp2Session;
  /** Resolves once connected (at once when it is); rejects with the connect failure. */
  readonly ready: Promise<void>;
  /** The error that ended the session, for streams that only see a cancel. */
  failure: Error | undefined;
}

export class H2SessionRegistry {
  private readonly sessions = new Map<string, { s: H2Session; used: boolean }>();

  get(node: BalancerNode, p: H2SessionSettings): H2Session {
    const host = urlHost(node.host);
    const tls = p.scheme === 'grpcs';
    const origin = `${tls ? 'https' : 'http'}://${host}:${node.port}`;
    const key = `${origin}|${p.connectTimeoutMs}|${p.idleTimeoutMs}|${p.verifyTls}|${p.servername ?? ''}|${p.clientIdentity ?? ''}`;
    const entry = this.sessions.get(key);
    if (entry !== undefined && usable(entry.s.session)) {
      entry.used = true;
      return entry.s;
    }
    const s = this.open(origin, tls, p);
    const fresh = { s, used: true };
    this.sessions.set(key, fresh);
    const forget = (): void => { if (this.sessions.get(key) === fresh) this.sessions.delete(key); };
    // a GOAWAY lets the streams in flight finish; new requests go to a new session
    s.session.once('goaway', forget);
    s.session.once('close', forget);
    return s;
  }

  private open(origin: string, tls: boolean, p: H2SessionSettings): H2Session {
    const session = http2.connect(origin, tls ? {
      rejectUnauthorized: p.verifyTls, servername: p.servername, cert: p.clientCert, key: p.clientKey, ALPNProtocols: ['h2'],
    } : {});
    const s: H2Session = { session, ready: undefined as unknown as Promise<void>, failure: undefined };
    session.on('error', (err) => { s.failure ??= err; });
    (s as { ready: Promise<void> }).ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        s.failure ??= connectTimeout();
        session.destroy(s.failure);
      }, p.connectTimeoutMs);
      session.once('connect', () => { clearTimeout(timer); resolve(); });
      session.once('close', () => { clearTimeout(timer); reject(s.failure ?? new Error('upstream session closed')); });
    });
    s.ready.catch(noop);
    // an idle session (no stream for keepalive_pool.idle_timeout) goes away
    if (p.idleTimeoutMs > 0) session.setTimeout(p.idleTimeoutMs, () => { if (!session.closed) session.close(); });
    return s;
  }

  /** Closes sessions no request used since the previous sweep (they close once their streams end). */
  sweep(): void {
    for (const [key, entry] of this.sessions) {
      if (!entry.used) {
        this.sessions.delete(key);
        if (!entry.s.session.closed) entry.s.session.close();
      }
      entry.used = false;
    }
  }

  async closeAll(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map((e) => new Promise<void>((resolve) => {
      const session = e.s.session;
      if (session.destroyed) {
        resolve();
        return;
      }
      session.once('close', () => resolve());
      session.close();
    })));
  }
}

function usable(session: ClientHttp2Session): boolean {
  return !session.closed && !session.destroyed;
}

function noop(): void {}
