import net from 'node:net';
import tls from 'node:tls';
import { Http1Connection, type Http1ConnectionOwner, type Http1Handlers, type Http1Limits } from './connection.js';
import { proxyAddressesOf, readProxyHeader, rememberProxyAddresses } from './proxy-protocol.js';

/**
 * A data-plane listener: a net.Server (or tls.Server) whose connections speak HTTP/1.1
 * through Http1Connection instead of node:http. Owns the connection set, the timeout
 * sweep and the drain/close steps a graceful shutdown needs.
 */
export class Http1Listener implements Http1ConnectionOwner {
  /** The listening server. */
  readonly server: net.Server;
  /**
   * The TLS server that handshakes (its certificates, SNI and `secureConnection`): the
   * listening server itself, or on a PROXY protocol listener one that is given each socket
   * once the PROXY header is read. Undefined on a plain listener.
   */
  readonly tlsServer: tls.Server | undefined;
  closing = false;
  private readonly connections = new Set<Http1Connection>();
  /**
   * Every accepted TCP socket until it closes: besides the HTTP connections, TLS sockets
   * still in their handshake and sockets handed to a WebSocket splice. Shutdown destroys
   * what is left of them, so none outlives the drain.
   */
  private readonly sockets = new Set<net.Socket>();
  private sweep: NodeJS.Timeout | undefined;

  /** `proxyProtocol`: every connection starts with a PROXY protocol header (v1 or v2); one without it is closed. */
  constructor(readonly handlers: Http1Handlers, readonly limits: Http1Limits, tlsOptions?: tls.TlsOptions, proxyProtocol = false) {
    if (tlsOptions === undefined) {
      this.tlsServer = undefined;
      // allowHalfOpen: a client that shuts down its sending side after the request still gets the answer.
      this.server = net.createServer({ allowHalfOpen: true }, proxyProtocol
        ? (socket) => readProxyHeader(socket, limits.headerTimeoutMs, () => { socket.resume(); this.accept(socket); })
        : (socket) => this.accept(socket));
    } else {
      // Half-open only once the handshake is done: with it on from the start, a client that
      // closes before finishing its handshake (a TCP probe, a scanner) leaves the socket in
      // CLOSE-WAIT for good, as node raises no error for that end.
      const tlsServer = tls.createServer({ ...tlsOptions, allowHalfOpen: false }, (socket) => {
        socket.allowHalfOpen = true;
        if (proxyProtocol) {
          // node keeps the socket it wrapped as `_parent`: the raw one the PROXY header was read from
          const addresses = proxyAddressesOf((socket as unknown as { _parent?: net.Socket })._parent);
          if (addresses !== undefined) rememberProxyAddresses(socket, addresses);
        }
        if (socket.alpnProtocol === 'h2' && handlers.onHttp2 !== undefined) handlers.onHttp2(socket, undefined);
        else this.accept(socket);
      });
      // A handshake that fails or times out (handshakeTimeout) only emits this; node leaves the socket open.
      tlsServer.on('tlsClientError', (_err: Error, socket: tls.TLSSocket) => socket.destroy());
      this.tlsServer = tlsServer;
      this.server = proxyProtocol ? net.createServer({ allowHalfOpen: false }, (raw) => this.handshakeAfterProxyHeader(raw, tlsServer)) : tlsServer;
    }
    this.server.on('connection', (socket: net.Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    const interval = Math.max(50, Math.min(1000, limits.headerTimeoutMs / 2));
    this.sweep = setInterval(() => this.checkTimeouts(), interval).unref();
  }

  /**
   * The PROXY header comes before the TLS handshake: it is read off the raw socket, the
   * bytes after it (the ClientHello) put back, and the socket handed to the TLS server.
   */
  private handshakeAfterProxyHeader(raw: net.Socket, tlsServer: tls.Server): void {
    readProxyHeader(raw, this.limits.headerTimeoutMs, () => tlsServer.emit('connection', raw));
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Connections with a request in progress. */
  get busyConnections(): number {
    let busy = 0;
    for (const conn of this.connections) if (!conn.idle) busy++;
    return busy;
  }

  private accept(socket: net.Socket): void {
    if (socket.destroyed) return;
    if (this.closing) {
      socket.destroy();
      return;
    }
    this.connections.add(new Http1Connection(socket, this));
  }

  forget(conn: Http1Connection): void {
    this.connections.delete(conn);
  }

  private checkTimeouts(): void {
    const now = Date.now();
    for (const conn of this.connections) conn.checkTimeouts(now);
  }

  /** Stops accepting; idle keep-alive connections close now, busy ones after their response. */
  stopAccepting(): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const conn of this.connections) conn.closeWhenIdle();
    return closed;
  }

  closeIdleConnections(): void {
    for (const conn of this.connections) if (conn.idle) conn.destroy();
  }

  /** Destroys every socket still open: connections, handshakes in progress, spliced WebSockets. */
  closeAllConnections(): void {
    for (const conn of this.connections) conn.destroy();
    for (const socket of this.sockets) socket.destroy();
    if (this.sweep !== undefined) clearInterval(this.sweep);
    this.sweep = undefined;
  }
}
