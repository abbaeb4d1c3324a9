import net from 'node:net';
import tls from 'node:tls';
import { Http1Connection, type Http1ConnectionOwner, type Http1Handlers, type Http1Limits } from './connection.js';

/**
 * A data-plane listener: a net.Server (or tls.Server) whose connections speak HTTP/1.1
 * through Http1Connection instead of node:http. Owns the connection set, the timeout
 * sweep and the drain/close steps a graceful shutdown needs.
 */
export class Http1Listener implements Http1ConnectionOwner {
  readonly server: net.Server;
  closing = false;
  private readonly connections = new Set<Http1Connection>();
  /**
   * Every accepted TCP socket until it closes: besides the HTTP connections, TLS sockets
   * still in their handshake and sockets handed to a WebSocket splice. Shutdown destroys
   * what is left of them, so none outlives the drain.
   */
  private readonly sockets = new Set<net.Socket>();
  private sweep: NodeJS.Timeout | undefined;

  constructor(readonly handlers: Http1Handlers, readonly limits: Http1Limits, tlsOptions?: tls.TlsOptions) {
    if (tlsOptions === undefined) {
      // allowHalfOpen: a client that shuts down its sending side after the request still gets the answer.
      this.server = net.createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    } else {
      // Half-open only once the handshake is done: with it on from the start, a client that
      // closes before finishing its handshake (a TCP probe, a scanner) leaves the socket in
      // CLOSE-WAIT for good, as node raises no error for that end.
      this.server = tls.createServer({ ...tlsOptions, allowHalfOpen: false }, (socket) => {
        socket.allowHalfOpen = true;
        this.accept(socket);
      });
      // A handshake that fails or times out (handshakeTimeout) only emits this; node leaves the socket open.
      this.server.on('tlsClientError', (_err: Error, socket: tls.TLSSocket) => socket.destroy());
    }
    this.server.on('connection', (socket: net.Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    const interval = Math.max(50, Math.min(1000, limits.headerTimeoutMs / 2));
    this.sweep = setInterval(() => this.checkTimeouts(), interval).unref();
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
