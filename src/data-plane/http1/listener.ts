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
  private sweep: NodeJS.Timeout | undefined;

  constructor(readonly handlers: Http1Handlers, readonly limits: Http1Limits, tlsOptions?: tls.TlsOptions) {
    if (tlsOptions === undefined) {
      // allowHalfOpen: a client that shuts down its sending side after the request still gets the answer.
      this.server = net.createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    } else {
      this.server = tls.createServer({ ...tlsOptions, allowHalfOpen: true }, (socket) => this.accept(socket));
    }
    const interval = Math.max(50, Math.min(1000, limits.headerTimeoutMs / 2));
    this.sweep = setInterval(() => this.checkTimeouts(), interval).unref();
  }

  get connectionCount(): number {
    return this.connections.size;
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

  closeAllConnections(): void {
    for (const conn of this.connections) conn.destroy();
    if (this.sweep !== undefined) clearInterval(this.sweep);
    this.sweep = undefined;
  }
}
