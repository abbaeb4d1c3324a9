import net from 'node:net';
import tls from 'node:tls';
import { UpstreamConnection, type ConnectionOwner, type ResponseHandler, type UpstreamRequest } from './connection.js';

// The keep-alive connections of one worker to one upstream node, with one set of settings.
// `size` is nginx's `keepalive`: how many idle connections are kept, not a cap on the
// connections in use (a burst opens what it needs; what is over `size` closes when done).
// The most recently used idle connection is taken first, so a quiet period lets the
// others reach their idle timeout and close.

export interface NodePoolSettings {
  tls: boolean;
  connectTimeoutMs: number;
  /** Idle connections kept. */
  size: number;
  idleTimeoutMs: number;
  /** Exchanges per connection before it closes (nginx's keepalive_requests). */
  maxRequests: number;
  verifyTls: boolean;
  /** SNI and the name the certificate is checked against; by default the request's Host. */
  servername?: string;
  clientCert?: string;
  clientKey?: string;
}

/** TLS sessions kept per pool for resumption, one per server name. */
const MAX_TLS_SESSIONS = 16;

export class NodePool implements ConnectionOwner {
  readonly maxRequests: number;
  readonly idleTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /** A request was sent since the registry's last sweep. */
  used = true;
  private readonly idle: UpstreamConnection[] = [];
  private readonly open = new Set<UpstreamConnection>();
  private readonly tlsSessions = new Map<string, Buffer>();
  private closing: (() => void) | undefined;

  constructor(private readonly host: string, private readonly port: number, private readonly s: NodePoolSettings) {
    this.maxRequests = s.maxRequests;
    this.idleTimeoutMs = s.idleTimeoutMs;
    this.connectTimeoutMs = s.connectTimeoutMs;
  }

  /** close() was called: the pool takes no more requests. */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Connections sending or receiving. */
  get busy(): number {
    return this.open.size - this.idle.length;
  }

  dispatch(req: UpstreamRequest, handler: ResponseHandler): void {
    this.used = true;
    // an Upgrade gets a connection of its own, opened to be handed over (its exchange never returns it to the pool)
    const c = req.upgrade !== undefined ? undefined : this.s.tls ? this.idleFor(this.serverName(req)) : this.idle.pop();
    (c ?? this.connect(req)).run(req, handler);
  }

  resend(req: UpstreamRequest, handler: ResponseHandler): void {
    this.connect(req).run(req, handler);
  }

  release(c: UpstreamConnection, reusable: boolean): void {
    if (reusable && this.closing === undefined && this.idle.length < this.s.size) this.idle.push(c);
    else c.close();
  }

  forget(c: UpstreamConnection): void {
    this.open.delete(c);
    const i = this.idle.lastIndexOf(c);
    if (i !== -1) this.idle.splice(i, 1);
    if (this.closing !== undefined && this.open.size === 0) this.closing();
  }

  /** Closes the idle connections now and the busy ones as their exchanges end. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.closing = resolve;
      for (const c of this.idle.splice(0)) c.close();
      if (this.open.size === 0) resolve();
    });
  }

  private idleFor(name: string | undefined): UpstreamConnection | undefined {
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const c = this.idle[i]!;
      if (c.serverName === name) {
        this.idle.splice(i, 1);
        return c;
      }
    }
    return undefined;
  }

  /** APISIX sends the Host it sends upstream as SNI (proxy_ssl_name $upstream_host); an IP is no server name. */
  private serverName(req: UpstreamRequest): string | undefined {
    if (this.s.servername !== undefined) return this.s.servername;
    const host = req.headers[0] === 'host' ? req.headers[1] : undefined;
    const name = host === undefined ? this.host : host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d*$/, '');
    return net.isIP(name) === 0 && name !== '' ? name : undefined;
  }

  private connect(req: UpstreamRequest): UpstreamConnection {
    let c: UpstreamConnection;
    const forUpgrade = req.upgrade !== undefined;
    if (this.s.tls) {
      const servername = this.serverName(req);
      const key = servername ?? '';
      c = new UpstreamConnection(this, (onread) => {
        const socket = tls.connect({
          host: this.host, port: this.port, servername, rejectUnauthorized: this.s.verifyTls,
          cert: this.s.clientCert, key: this.s.clientKey, ALPNProtocols: ['http/1.1'],
          session: this.tlsSessions.get(key),
          // tls.connect takes net's onread (Node's docs say so; its types do not)
          ...({ onread } as object),
        });
        socket.on('session', (session: Buffer) => {
          if (this.tlsSessions.size >= MAX_TLS_SESSIONS && !this.tlsSessions.has(key)) this.tlsSessions.clear();
          this.tlsSessions.set(key, session);
        });
        return socket;
      }, 'secureConnect', forUpgrade);
      c.serverName = servername;
    } else {
      c = new UpstreamConnection(this, (onread) => net.connect({ host: this.host, port: this.port, onread }), 'connect', forUpgrade);
    }
    this.open.add(c);
    return c;
  }
}
