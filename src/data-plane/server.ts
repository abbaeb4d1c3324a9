import type { Socket } from 'node:net';
import type { TLSSocket, Server as TlsServer } from 'node:tls';
import type { NodeConfig, ListenConfig } from '../contracts/node-config.js';
import { logger } from '../core/logger.js';
import type { DataPlaneSnapshot } from './snapshot.js';
import { Exchange } from './exchange.js';
import { parseRequestTarget } from './request-target.js';
import { PoolRegistry } from './proxy/pools.js';
import { Forwarder, type ForwardDeps } from './proxy/forward.js';
import { errorBody, sendError } from './proxy/error-response.js';
import { Http1Listener } from './http1/listener.js';
import type { Http1Connection, Http1Handlers, Http1Limits } from './http1/connection.js';
import type { HttpRequest } from './http1/request.js';
import type { HttpResponse } from './http1/response.js';
import { proxyWebSocket } from './proxy/websocket.js';
import { requestClientCertificate } from './tls/client-auth.js';
import { ERRORS, type ErrorCode } from '../core/errors.js';
import { EMPTY_CHAIN } from '../plugin-runtime/chain.js';
import { PluginRun, ResponseState } from '../plugin-runtime/plugin-run.js';
import { hasBodyFilters, runBodyFilter, runHeaderFilter, runLog, runRequestSide, type Decision } from '../plugin-runtime/runner.js';
import type { CompiledRoute } from './snapshot.js';

import { listenOn, type BoundAddress } from '../core/listen.js';
export type { BoundAddress };

function hostOf(header: string | undefined): string {
  if (header === undefined) return '';
  if (header.charCodeAt(0) === 91 /* [ */) {
    const end = header.indexOf(']');
    return header.slice(0, end + 1).toLowerCase();
  }
  const colon = header.indexOf(':');
  return (colon === -1 ? header : header.slice(0, colon)).toLowerCase();
}

/**
 * The listeners of one worker and the request lifecycle. The only mutable state is
 * the current snapshot reference: each request reads it once and keeps it to the end.
 */
export class DataPlane {
  private snapshot: DataPlaneSnapshot;
  private readonly servers: { listener: Http1Listener; tls: boolean }[] = [];
  private readonly pools = new PoolRegistry();
  private readonly serverHeader: string;
  private readonly maxBody: number;
  private readonly log = logger().child({ module: 'data-plane' });
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly limits: Http1Limits;
  private inFlight = 0;
  /** Connections accepted and requests received so far (nginx stub_status `accepts`, `requests`), for the metrics. */
  private accepted = 0;
  private requests = 0;
  /** The per-plugin cost histogram times one request in costSample; untilTimed counts down to the next. */
  private readonly costSample: number;
  private untilTimed = 1;

  constructor(private readonly config: NodeConfig, initial: DataPlaneSnapshot, version: string) {
    this.snapshot = initial;
    this.serverHeader = `Gatehouse/${version}`;
    this.forwardDeps = {
      pools: this.pools, serverHeader: this.serverHeader,
      onClosed: () => { this.inFlight--; },
      fail: (ex, code, close) => this.fail(ex, code, close),
    };
    this.maxBody = config.node.client.max_body_size;
    this.costSample = config.prometheus.plugin_cost_sample;
    const c = config.node.client;
    this.limits = {
      maxHeaderSize: c.max_header_size,
      maxBodySize: c.max_body_size,
      headerTimeoutMs: c.header_timeout * 1000,
      keepAliveTimeoutMs: c.keepalive_timeout * 1000,
      requestTimeoutMs: c.request_timeout * 1000,
    };
  }

  get revision(): number {
    return this.snapshot.revision;
  }

  get activeRequests(): number {
    return this.inFlight;
  }

  /** nginx stub_status-like counts: open client connections (`active`), accepted connections, requests. */
  async connectionStats(): Promise<{ active: number; accepted: number; requests: number }> {
    let active = 0;
    for (const { listener } of this.servers) active += listener.connectionCount;
    return { active, accepted: this.accepted, requests: this.requests };
  }

  /** Swaps in a new snapshot; requests already running finish on the one they started with. */
  apply(next: DataPlaneSnapshot): void {
    this.snapshot = next;
    const def = next.tls.defaultOptions;
    for (const { listener, tls } of this.servers) {
      if (tls && def !== undefined) (listener.server as TlsServer).setSecureContext(def);
    }
  }

  async listen(listeners: ListenConfig[] = this.config.node.listen): Promise<BoundAddress[]> {
    const bound: BoundAddress[] = [];
    for (const l of listeners) {
      const tls = l.tls === true;
      const listener = new Http1Listener(this.handlers(tls ? 'https' : 'http'), this.limits, tls ? this.tlsOptions() : undefined);
      this.attach(listener, tls);
      bound.push(await listenOn(listener.server, l));
      this.servers.push({ listener, tls });
    }
    this.sweepTimer = setInterval(() => this.pools.sweep(), 60_000).unref();
    return bound;
  }

  private handlers(scheme: 'http' | 'https'): Http1Handlers {
    return {
      onRequest: (req, res) => {
        try {
          this.onRequest(req, res, scheme);
        } catch (err) {
          this.crashed(err, res);
        }
      },
      onUpgrade: (req, res, conn) => {
        try {
          this.onUpgrade(req, res, conn, scheme);
        } catch (err) {
          this.crashed(err, res);
        }
      },
      errorBody: (status, message) => errorBody(status, message, this.serverHeader),
    };
  }

  /** Whatever threw while a request was being handled fails that request only. */
  private crashed(err: unknown, res: HttpResponse): void {
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
      ALPNProtocols: ['http/1.1'],
      // A handshake is part of getting the request head in: the same clock bounds it.
      handshakeTimeout: this.limits.headerTimeoutMs,
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
    const server = listener.server;
    server.on('connection', () => { this.accepted++; });
    if (tls) {
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

  private onRequest(req: HttpRequest, res: HttpResponse, scheme: 'http' | 'https'): void {
    this.requests++;
    const ex = this.route(req, res, scheme);
    if (ex === undefined) return;
    const route = ex.route;
    if (route?.plugins !== undefined || ex.snapshot.hasGlobalPlugins) {
      this.runPlugins(ex, route);
      return;
    }
    if (route === undefined) {
      sendError(res, 'GH_ERR_ROUTE_NOT_FOUND', this.serverHeader);
      return;
    }
    this.proxy(ex, route);
  }

  /** The last step of every request that reaches an upstream. */
  private proxy(ex: Exchange, route: CompiledRoute): void {
    if (route.upstreamError !== undefined) {
      this.fail(ex, route.upstreamError);
      return;
    }
    if (this.maxBody > 0 && !this.withinBodyLimit(ex)) return;
    this.inFlight++;
    new Forwarder(ex, route, this.forwardDeps).start();
  }

  private runPlugins(ex: Exchange, route: CompiledRoute | undefined): void {
    const snap = ex.snapshot;
    const run = new PluginRun(ex, snap.plugins.global, route?.plugins?.chain ?? EMPTY_CHAIN, this.log);
    if (--this.untilTimed === 0) {
      this.untilTimed = this.costSample;
      run.costWeight = this.costSample;
    } else {
      run.costWeight = 0;
    }
    ex.plugins = run;
    ex.res.onClose(() => void runLog(run));
    let outcome;
    try {
      outcome = runRequestSide(run, snap.plugins, route?.plugins);
    } catch (err) {
      this.log.error({ err }, 'plugin runner failed');
      this.fail(ex, 'GH_ERR_INTERNAL');
      return;
    }
    // Plain handlers finish synchronously; only an async one costs a promise (and a closure) here.
    if (outcome instanceof Promise) {
      outcome.then((d) => this.afterRequestSide(ex, route, d), (err: unknown) => {
        this.log.error({ err }, 'plugin runner failed');
        this.fail(ex, 'GH_ERR_INTERNAL');
      });
    } else {
      this.afterRequestSide(ex, route, outcome);
    }
  }

  /** The request phases are done: answer with their decision, or proxy. */
  private afterRequestSide(ex: Exchange, route: CompiledRoute | undefined, decision: Decision | undefined): void {
    if (ex.clientGone || ex.res.headersSent) return;
    if (decision !== undefined) this.respondLocal(ex, decision);
    else if (route === undefined) this.fail(ex, 'GH_ERR_ROUTE_NOT_FOUND');
    else this.proxy(ex, route);
  }

  /** Answers with a catalogued error, through the plugins' response phases when the request has any. */
  private fail(ex: Exchange, code: ErrorCode, close = false): void {
    if (ex.plugins === undefined) {
      sendError(ex.res, code, this.serverHeader, undefined, close);
      return;
    }
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (close) headers.connection = 'close';
    this.respondLocal(ex, { status: ERRORS[code].status, headers, body: Buffer.from(JSON.stringify({ error_msg: ERRORS[code].message }) + '\n') });
  }

  /** Writes a response the gateway made itself (a plugin's decision or an error), after header_filter and body_filter. */
  private respondLocal(ex: Exchange, d: Decision): void {
    const run = ex.plugins!;
    const { res } = ex;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const state = new ResponseState();
    state.status = d.status;
    for (const [k, v] of Object.entries(d.headers)) state.setHeader(k, v);
    state.setHeader('server', this.serverHeader);
    run.response = state;
    runHeaderFilter(run);
    let body = d.body ?? Buffer.alloc(0);
    if (hasBodyFilters(run)) body = runBodyFilter(run, body, true);
    state.setHeader('content-length', String(body.length));
    res.writeHead(state.status, state.flatten(), undefined, true);
    res.end(body);
  }

  private readonly forwardDeps: ForwardDeps;

  /** Router input reused across requests: matching is synchronous, so one object serves all. */
  private readonly matchInput = {
    method: '', host: '', path: '', remoteAddr: '',
    current: undefined as Exchange | undefined,
    vars: (name: string): unknown => this.matchInput.current!.vars.get(name),
  };

  /** Matches the route; answers the request itself (and returns undefined) when it cannot be proxied. */
  private route(req: HttpRequest, res: HttpResponse, scheme: 'http' | 'https'): Exchange | undefined {
    const snap = this.snapshot;
    const target = parseRequestTarget(req.url);
    if (target === undefined) {
      sendError(res, 'GH_ERR_CLIENT_BAD_PATH', this.serverHeader);
      return undefined;
    }
    const remoteAddr = req.remoteAddr;
    const host = hostOf(req.headers.host);
    if (scheme === 'https' && snap.tls.hasClientAuth && !snap.tls.admitsRequest(req.socket as TLSSocket, host, target.path)) {
      sendError(res, 'GH_ERR_CLIENT_CERT_REQUIRED', this.serverHeader);
      return undefined;
    }
    const url = req.url;
    const ex = new Exchange(req, res, snap, target.path, target.query, host, remoteAddr, req.localPort, scheme,
      url.charCodeAt(0) === 47 ? url : target.query === '' ? target.path : `${target.path}?${target.query}`);
    const input = this.matchInput;
    input.method = req.method;
    input.host = host;
    input.path = target.path;
    input.remoteAddr = remoteAddr;
    input.current = ex;
    const m = snap.router.match(input);
    input.current = undefined;
    if (m === undefined) return ex; // unmatched: global rules still run (APISIX), then 404
    const route = m.route;
    ex.route = route;
    const facts = ex.vars.facts;
    facts.routeId = route.id;
    facts.routeName = route.name;
    facts.serviceId = route.service?.id;
    facts.serviceName = route.service?.name;
    facts.uriParams = m.params;
    return ex;
  }

  /** A declared length over `max_body_size` is refused before anything is read; a chunked body is counted by the connection as it streams. */
  private withinBodyLimit(ex: Exchange): boolean {
    const len = ex.req.headers['content-length'];
    if (len !== undefined && Number(len) > this.maxBody) {
      this.fail(ex, 'GH_ERR_CLIENT_BODY_TOO_LARGE', true);
      return false;
    }
    return true;
  }

  private onUpgrade(req: HttpRequest, res: HttpResponse, conn: Http1Connection, scheme: 'http' | 'https'): void {
    this.requests++;
    const ex = this.route(req, res, scheme);
    if (ex === undefined) return;
    const route = ex.route;
    if (route === undefined) {
      sendError(res, 'GH_ERR_ROUTE_NOT_FOUND', this.serverHeader);
      return;
    }
    if (route.upstreamError !== undefined) {
      sendError(res, route.upstreamError, this.serverHeader);
      return;
    }
    if (!route.websocket || String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      sendError(res, 'GH_ERR_CLIENT_BAD_REQUEST', this.serverHeader, 'websocket is not enabled on this route');
      return;
    }
    const head = conn.detach();
    proxyWebSocket(req, conn.socket, head, route, ex.vars, ex.upstreamUri, this.pools, this.serverHeader);
  }

  /**
   * Stops accepting, lets in-flight requests finish for up to `timeoutMs`, then closes
   * whatever is left. Resolves when every listener is closed.
   */
  async close(timeoutMs: number): Promise<void> {
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    const closing = this.servers.map(({ listener }) => listener.stopAccepting());
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      for (const { listener } of this.servers) listener.closeIdleConnections();
    }
    for (const { listener } of this.servers) listener.closeAllConnections();
    await Promise.all(closing);
    await this.pools.closeAll();
  }
}
