import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { NodeConfig, ListenConfig } from '../contracts/node-config.js';
import { logger } from '../core/logger.js';
import type { DataPlaneSnapshot } from './snapshot.js';
import { PoolRegistry } from './proxy/pools.js';
import { errorBody, sendError } from './proxy/error-response.js';
import { Http1Listener } from './http1/listener.js';
import type { Http1Handlers, Http1Limits } from './http1/connection.js';
import type { ClientResponse } from './client-response.js';
import { RequestLifecycle } from './lifecycle.js';
import { requestClientCertificate } from './tls/client-auth.js';
import { Http2Sessions } from './http2/sessions.js';

import { listenOn, type BoundAddress } from '../core/listen.js';
import { StreamPlane, type StreamBoundAddress } from './stream/stream-plane.js';
export type { BoundAddress, StreamBoundAddress };

/**
 * The listeners of one worker. Requests are handed to the request lifecycle
 * (lifecycle.ts); the only mutable state is the current snapshot reference, which each
 * request reads once and keeps to the end.
 */
export class DataPlane {
  private snapshot: DataPlaneSnapshot;
  private readonly servers: { listener: Http1Listener; tls: boolean }[] = [];
  private readonly pools = new PoolRegistry();
  private readonly serverHeader: string;
  private readonly log = logger().child({ module: 'data-plane' });
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly limits: Http1Limits;
  /** Connections accepted so far (nginx stub_status `accepts`), for the metrics. */
  private accepted = 0;
  private readonly lifecycle: RequestLifecycle;
  /** HTTP/2 sessions of every listener; undefined when `node.http2.enabled` is false. */
  private readonly http2: Http2Sessions | undefined;
  private stream: StreamPlane | undefined;

  constructor(private readonly config: NodeConfig, initial: DataPlaneSnapshot, version: string) {
    this.snapshot = initial;
    this.serverHeader = `Gatehouse/${version}`;
    this.lifecycle = new RequestLifecycle({
      snapshot: () => this.snapshot,
      pools: this.pools,
      serverHeader: this.serverHeader,
      maxBodySize: config.node.client.max_body_size,
      costSample: config.prometheus.plugin_cost_sample,
      recordHandlerCalls: config.tracing === true,
      runLimits: { pluginTimeoutMs: config.node.plugin_timeout * 1000, maxBufferedBody: config.node.max_buffered_body_size },
      log: this.log,
    });
    const c = config.node.client;
    this.limits = {
      maxHeaderSize: c.max_header_size,
      maxBodySize: c.max_body_size,
      headerTimeoutMs: c.header_timeout * 1000,
      keepAliveTimeoutMs: c.keepalive_timeout * 1000,
      requestTimeoutMs: c.request_timeout * 1000,
    };
    const h2 = config.node.http2;
    this.http2 = h2.enabled ? new Http2Sessions({
      onRequest: (req, res, scheme) => {
        try {
          this.lifecycle.http(req, res, scheme);
        } catch (err) {
          this.crashed(err, res);
        }
      },
      refuse: (res, code) => sendError(res, code, this.serverHeader),
    }, h2, { maxBodySize: c.max_body_size, keepAliveTimeoutMs: this.limits.keepAliveTimeoutMs }, this.log) : undefined;
  }

  get revision(): number {
    return this.snapshot.revision;
  }

  get activeRequests(): number {
    return this.lifecycle.inFlight;
  }

  /** nginx stub_status-like counts: open client connections (`active`), accepted connections, requests. */
  async connectionStats(): Promise<{ active: number; accepted: number; requests: number }> {
    let active = 0;
    for (const { listener } of this.servers) active += listener.connectionCount;
    active += this.http2?.sessionCount ?? 0;
    active += this.stream?.connections ?? 0;
    return { active, accepted: this.accepted, requests: this.lifecycle.requests };
  }

  /** Swaps in a new snapshot; requests already running finish on the one they started with. */
  apply(next: DataPlaneSnapshot): void {
    this.snapshot = next;
    const def = next.tls.defaultOptions;
    for (const { listener, tls } of this.servers) {
      if (tls && def !== undefined) listener.tlsServer?.setSecureContext(def);
    }
    if (def !== undefined) this.stream?.setDefaultSecureContext(def);
  }

  async listen(listeners: ListenConfig[] = this.config.node.listen): Promise<BoundAddress[]> {
    const bound: BoundAddress[] = [];
    for (const l of listeners) {
      const tls = l.tls === true;
      const listener = new Http1Listener(this.handlers(tls ? 'https' : 'http'), this.limits, tls ? this.tlsOptions() : undefined, l.proxy_protocol === true);
      this.attach(listener, tls);
      bound.push(await listenOn(listener.server, l));
      this.servers.push({ listener, tls });
    }
    this.sweepTimer = setInterval(() => this.pools.sweep(), 60_000).unref();
    return bound;
  }

  /**
   * The `stream_proxy` listeners (none without that section). `servesUdp`: this worker
   * binds the UDP ones (only worker 0 does, see stream/stream-plane.ts).
   */
  async listenStream(servesUdp: boolean): Promise<StreamBoundAddress[]> {
    const conf = this.config.stream_proxy;
    if (conf === undefined) return [];
    this.stream = new StreamPlane(conf, { stream: () => this.snapshot.stream, tls: () => this.snapshot.tls },
      () => ({ ...this.tlsOptions(), ALPNProtocols: undefined }));
    return this.stream.listen(servesUdp);
  }

  private handlers(scheme: 'http' | 'https'): Http1Handlers {
    return {
      onRequest: (req, res) => {
        try {
          this.lifecycle.http(req, res, scheme);
        } catch (err) {
          this.crashed(err, res);
        }
      },
      onUpgrade: (req, res, conn) => {
        try {
          this.lifecycle.upgrade(req, res, conn, scheme);
        } catch (err) {
          this.crashed(err, res);
        }
      },
      errorBody: (code, detail) => errorBody(detail, this.serverHeader),
      onHttp2: this.http2 === undefined ? undefined : (socket, preface) => this.http2!.accept(socket, scheme, preface),
    };
  }

  /** Whatever threw while a request was being handled fails that request only. */
  private crashed(err: unknown, res: ClientResponse): void {
    this.log.error({ err }, 'request handling failed');
    if (res.headersSent || res.writableFinished) res.destroy();
    else sendError(res, 'GH_ERR_INTERNAL', this.serverHeader);
  }

  private tlsOptions(): import('node:tls').TlsOptions {
    const t = this.config.node.tls;
    const def = this.snapshot.tls.defaultOptions;
    // The SNI callback needs its own `this` (the socket), so the plane is reached by name.
    const plane = this;
    return {
      ...(def ?? {}),
      ciphers: t.ciphers,
      minVersion: 'TLSv1.1',
      ALPNProtocols: this.http2 === undefined ? ['http/1.1'] : ['h2', 'http/1.1'],
      handshakeTimeout: t.handshake_timeout * 1000,
      // node calls it as a method of the TLSSocket: `this` is the connection being set up.
      SNICallback: function sniCallback(this: TLSSocket, servername, cb) {
        const index = plane.snapshot.tls;
        const ctx = index.find(servername);
        if (ctx === undefined) {
          cb(new Error(`no certificate for server name "${servername}"`), undefined);
          return;
        }
        const clientAuth = index.policyOf(ctx);
        if (clientAuth !== undefined) requestClientCertificate(this, clientAuth);
        cb(null, ctx);
      },
    };
  }

  private attach(listener: Http1Listener, tls: boolean): void {
    listener.server.on('connection', () => { this.accepted++; });
    const server = listener.tlsServer;
    if (tls && server !== undefined) {
      // Registered before the listener's own handler: a refused protocol never becomes a connection.
      server.prependListener('secureConnection', (socket: TLSSocket) => {
        const name = typeof socket.servername === 'string' ? socket.servername : undefined;
        if (!this.snapshot.tls.allowsProtocol(name, socket.getProtocol())) {
          this.log.debug({ servername: name, protocol: socket.getProtocol() }, 'TLS version not allowed for this certificate');
          socket.destroy();
        }
      });
      server.on('tlsClientError', (err: Error, socket: Socket) => {
        this.log.debug({ err: err.message, remote_addr: socket.remoteAddress }, 'TLS handshake failed');
      });
    }
  }

  /**
   * Stops accepting, lets in-flight requests finish for up to `timeoutMs`, then closes
   * whatever is left. Resolves when every listener is closed.
   */
  async close(timeoutMs: number): Promise<void> {
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    const closing = this.servers.map(({ listener }) => listener.stopAccepting());
    this.http2?.stopAccepting();
    this.stream?.stopAccepting();
    const deadline = Date.now() + timeoutMs;
    while (this.lifecycle.inFlight > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      for (const { listener } of this.servers) listener.closeIdleConnections();
      this.http2?.closeIdleSessions();
    }
    this.http2?.closeAll();
    for (const { listener } of this.servers) listener.closeAllConnections();
    await this.stream?.close(deadline);
    await Promise.all(closing);
    await this.pools.closeAll();
  }
}
