import type { Logger } from 'pino';
import type { TLSSocket } from 'node:tls';
import type { DataPlaneSnapshot, CompiledRoute } from './snapshot.js';
import type { HttpRequest } from './http1/request.js';
import type { ClientResponse } from './client-response.js';
import type { Http1Connection } from './http1/connection.js';
import type { PoolRegistry } from './proxy/pools.js';
import { Exchange } from './exchange.js';
import { parseRequestTarget } from './request-target.js';
import { Forwarder, type ForwardDeps } from './proxy/forward.js';
import { H2Forwarder } from './proxy/h2-forward.js';
import { grpcMessageOf, grpcStatusOfHttp, GRPC_STATUS, isGrpcRequest, trailersOnlyHeaders } from './grpc/grpc-status.js';
import { sendError } from './proxy/error-response.js';
import { proxyWebSocket, type WebSocketHooks } from './proxy/websocket.js';
import { ERRORS, isGatehouseError, type ErrorCode } from '../core/errors.js';
import { EMPTY_CHAIN } from '../plugin-runtime/chain.js';
import { PluginRun, ResponseState, type RunLimits } from '../plugin-runtime/plugin-run.js';
import { isPromise, runRequestSide, type Decision } from '../plugin-runtime/runner.js';
import { hasBodyFilters, runBodyFilter, runHeaderFilter, runLogAndFinish } from '../plugin-runtime/response-phases.js';
import { RequestTrace } from '../observability/tracing/request-trace.js';

export interface LifecycleOptions {
  /** The snapshot a new request starts on (it keeps it to the end). */
  snapshot(): DataPlaneSnapshot;
  pools: PoolRegistry;
  serverHeader: string;
  /** `node.client.max_body_size` (0: no limit). */
  maxBodySize: number;
  /** One request in this many has its plugin calls timed (`prometheus.plugin_cost_sample`). */
  costSample: number;
  /** Node config `tracing`: requests whose chains hold a plugin that shows handler calls record them, for its per-phase spans. */
  recordHandlerCalls?: boolean;
  /** Plugin deadline and body buffer limit. */
  runLimits: RunLimits;
  log: Logger;
}

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
 * The one owner of a request's life, for every request kind that reaches the data plane
 * (plain HTTP and WebSocket upgrades today): match → request phases (rewrite, access,
 * before_proxy) → upstream, a local answer or the upgrade → response phases
 * (header_filter, body_filter) → log. Nothing else calls the plugin runner's request
 * side, so no request kind can skip its plugins. A request whose route has no plugins and
 * no global rule applies never builds a plugin run (the fast path).
 */
export class RequestLifecycle {
  /** Requests whose response has not closed yet (a graceful drain waits for them). */
  inFlight = 0;
  /** Requests received so far (nginx stub_status `requests`). */
  requests = 0;
  private untilTimed = 1;
  private readonly forwardDeps: ForwardDeps;
  private readonly requestClosed = (): void => { this.inFlight--; };

  constructor(private readonly o: LifecycleOptions) {
    this.forwardDeps = {
      pools: o.pools, serverHeader: o.serverHeader,
      onClosed: noop,
      fail: (ex, code, close, message) => this.fail(ex, code, close, message),
      respond: (ex, decision) => this.respondLocal(ex, decision),
    };
  }

  /** A plain HTTP request. */
  http(req: HttpRequest, res: ClientResponse, scheme: 'http' | 'https'): void {
    this.requests++;
    this.inFlight++;
    res.onClose(this.requestClosed);
    const ex = this.exchange(req, res, scheme, undefined);
    if (ex === undefined) return;
    if (ex.snapshot.matchReadsBody && req.body !== null) {
      this.readBodyThen(ex, this.routed);
      return;
    }
    this.routed(ex);
  }

  /** Matched (or not): the request phases when there are plugins, else straight to the upstream. */
  private readonly routed = (ex: Exchange): void => {
    const route = this.match(ex);
    if (route?.plugins !== undefined || ex.snapshot.hasGlobalPlugins) {
      this.requestPhases(ex, route);
      return;
    }
    if (route === undefined) {
      this.fail(ex, 'GH_ERR_ROUTE_NOT_FOUND');
      return;
    }
    this.proxy(ex, route);
  };

  /**
   * A WebSocket upgrade: the same route match and request phases as any request (auth,
   * IP rules and limits decide before the handshake is accepted); then the upstream
   * handshake, header_filter on its 101, the splice, and log once both sockets closed.
   */
  upgrade(req: HttpRequest, res: ClientResponse, conn: Http1Connection, scheme: 'http' | 'https'): void {
    this.requests++;
    const ex = this.exchange(req, res, scheme, conn);
    if (ex === undefined) return;
    const route = this.match(ex);
    if (route?.plugins !== undefined || ex.snapshot.hasGlobalPlugins) {
      this.requestPhases(ex, route);
      return;
    }
    this.afterRequestSide(ex, route, undefined);
  }

  /**
   * Some route's `vars` read the body (post_arg_*, request_body, graphql_*): it is read
   * before matching, bounded like a plugin's read (413 beyond).
   */
  private readBodyThen(ex: Exchange, next: (ex: Exchange) => void): void {
    ex.readBody(this.o.runLimits.maxBufferedBody).then(() => {
      if (!ex.clientGone) next(ex);
    }, (err: unknown) => {
      if (ex.clientGone) return;
      if (isGatehouseError(err, 'GH_ERR_CLIENT_BODY_TOO_LARGE')) this.fail(ex, 'GH_ERR_CLIENT_BODY_TOO_LARGE', true);
      else ex.res.destroy();
    });
  }

  /** Router input reused across requests: matching is synchronous, so one object serves all. */
  private readonly matchInput = {
    method: '', host: '', path: '', remoteAddr: '',
    current: undefined as Exchange | undefined,
    vars: (name: string): unknown => this.matchInput.current!.vars.get(name),
  };

  /** The request's exchange; answers the request itself (and returns undefined) when its target is unusable. */
  private exchange(req: HttpRequest, res: ClientResponse, scheme: 'http' | 'https', conn: Http1Connection | undefined): Exchange | undefined {
    const snap = this.o.snapshot();
    const target = parseRequestTarget(req.url);
    if (target === undefined) {
      sendError(res, 'GH_ERR_CLIENT_BAD_PATH', this.o.serverHeader);
      return undefined;
    }
    const host = hostOf(req.headers.host);
    // mTLS (ssl client.ca): a request for such a name needs a verified client certificate on its connection
    if (scheme === 'https' && snap.tls.hasClientAuth && !snap.tls.admitsRequest(req.socket as TLSSocket, host, target.path)) {
      sendError(res, 'GH_ERR_CLIENT_CERT_REQUIRED', this.o.serverHeader);
      return undefined;
    }
    const url = req.url;
    const ex = new Exchange(req, res, snap, target.path, target.query, host, req.remoteAddr, req.localPort, scheme,
      url.charCodeAt(0) === 47 ? url : target.query === '' ? target.path : `${target.path}?${target.query}`);
    ex.upgradeConnection = conn;
    return ex;
  }

  /** Matches the route (undefined: none; global rules still run, as APISIX, then 404). */
  private match(ex: Exchange): CompiledRoute | undefined {
    const facts = ex.vars.facts;
    const input = this.matchInput;
    input.method = ex.req.method;
    input.host = facts.host;
    input.path = facts.path;
    input.remoteAddr = facts.remoteAddr;
    input.current = ex;
    const m = ex.snapshot.router.match(input);
    input.current = undefined;
    if (m === undefined) return undefined;
    const route = m.route;
    ex.route = route;
    facts.routeId = route.id;
    facts.routeName = route.name;
    facts.serviceId = route.service?.id;
    facts.serviceName = route.service?.name;
    facts.uriParams = m.params;
    return route;
  }

  private requestPhases(ex: Exchange, route: CompiledRoute | undefined): void {
    const snap = ex.snapshot;
    const run = new PluginRun(ex, snap.plugins.global, route?.plugins?.chain ?? EMPTY_CHAIN, this.o.log, this.o.runLimits);
    if (--this.untilTimed === 0) {
      this.untilTimed = this.o.costSample;
      run.costWeight = this.o.costSample;
    } else {
      run.costWeight = 0;
    }
    ex.plugins = run;
    // node `tracing`: only where a plugin will show them (a consumer's plugins joining later are not timed from the start)
    if (this.o.recordHandlerCalls === true && (run.globalChain.recordsHandlerCalls === true || run.routeChain.recordsHandlerCalls === true)) {
      ex.trace = new RequestTrace(true);
    }
    ex.res.onClose(() => this.closed(ex, run));
    let outcome;
    try {
      outcome = runRequestSide(run, snap.plugins, route?.plugins);
    } catch (err) {
      this.o.log.error({ err }, 'plugin runner failed');
      this.fail(ex, 'GH_ERR_INTERNAL');
      return;
    }
    // Plain handlers finish synchronously; only an async one costs a promise (and a closure) here.
    if (outcome instanceof Promise) {
      outcome.then((d) => this.afterRequestSide(ex, route, d), (err: unknown) => {
        this.o.log.error({ err }, 'plugin runner failed');
        this.fail(ex, 'GH_ERR_INTERNAL');
      });
    } else {
      this.afterRequestSide(ex, route, outcome);
    }
  }

  /** The response closed (finished, or the client went away): cancel what is in flight, then log. */
  private closed(ex: Exchange, run: PluginRun): void {
    if (!ex.res.writableFinished) ex.clientGone = true;
    if (ex.clientGone) run.abort('client closed the connection');
    // A spliced WebSocket logs when both sockets have closed (its HTTP response never closes).
    if (ex.upgraded !== true) runLogAndFinish(run);
  }

  /** The request phases are done: answer with their decision, proxy, or upgrade. */
  private afterRequestSide(ex: Exchange, route: CompiledRoute | undefined, decision: Decision | undefined): void {
    if (ex.clientGone || ex.res.headersSent) return;
    if (decision !== undefined) this.respondLocal(ex, decision);
    else if (route === undefined) this.fail(ex, 'GH_ERR_ROUTE_NOT_FOUND');
    else {
      const target = ex.upstreamChoice === undefined ? route : ex.snapshot.withUpstream(route, ex.upstreamChoice);
      if (ex.upgradeConnection !== undefined) this.upgradeTo(ex, target);
      else this.proxy(ex, target);
    }
  }

  /** The last step of every request that reaches an upstream. */
  private proxy(ex: Exchange, route: CompiledRoute): void {
    if (route.upstreamError !== undefined) {
      this.fail(ex, route.upstreamError, false, route.upstreamErrorMessage);
      return;
    }
    // A declared length over `max_body_size` is refused before anything is read; a chunked body is counted by the connection as it streams.
    const max = this.o.maxBodySize;
    if (max > 0) {
      const len = ex.req.headers['content-length'];
      if (len !== undefined && Number(len) > max) {
        this.fail(ex, 'GH_ERR_CLIENT_BODY_TOO_LARGE', true);
        return;
      }
    }
    if (route.h2Upstream) {
      // gRPC needs HTTP/2 end to end (trailers): an HTTP/1.1 client is told to upgrade,
      // unless a plugin (grpc-web) made its request a gRPC one and carries the trailers itself.
      // `http2` upstreams take every client: HTTP/1.1 ones just do not see trailers.
      if (route.pool!.scheme !== 'http2' && ex.req.httpVersion !== '2.0' && ex.requestHeaderEdits?.get('content-type') !== 'application/grpc') {
        this.fail(ex, 'GH_ERR_CLIENT_HTTP2_REQUIRED');
      } else {
        new H2Forwarder(ex, route, this.forwardDeps).start();
      }
      return;
    }
    new Forwarder(ex, route, this.forwardDeps).start();
  }

  private upgradeTo(ex: Exchange, route: CompiledRoute): void {
    if (route.upstreamError !== undefined) {
      this.fail(ex, route.upstreamError, false, route.upstreamErrorMessage);
      return;
    }
    if (!route.websocket) {
      this.fail(ex, 'GH_ERR_WEBSOCKET_DISABLED');
      return;
    }
    // RFC 8441's extended CONNECT is not built: an upgrade cannot reach an HTTP/2 upstream
    if (route.h2Upstream) {
      this.fail(ex, 'GH_ERR_WEBSOCKET_H2_UPSTREAM');
      return;
    }
    const run = ex.plugins;
    const hooks: WebSocketHooks = {
      // The upstream accepted: header_filter sees its 101 (and may add headers to it).
      head: (status, flat) => {
        ex.upstreamStatus = status;
        if (run === undefined) return flat;
        run.response = ResponseState.fromFlat(status, flat);
        const r = runHeaderFilter(run);
        return r === undefined ? run.response.flatten() : r.then(() => run.response.flatten());
      },
      // Refused, or failed before the splice: an ordinary error response.
      failed: (code) => {
        ex.upgraded = false;
        this.fail(ex, code);
      },
      refused: (status, reason, flat, body) => {
        ex.upgraded = false;
        ex.upstreamStatus = status;
        if (run === undefined) {
          ex.res.writeHead(status, reason, flat, true);
          ex.res.end(body);
          return;
        }
        if (ex.res.headersSent) {
          ex.res.destroy();
          return;
        }
        // through the response phases like any answer, every field kept (Set-Cookie too);
        // the gateway frames the body it holds, which a body_filter may change
        const state = ResponseState.fromFlat(status, flat);
        state.setHeader('content-length', undefined);
        this.answerThroughPhases(ex, run, state, body);
      },
      spliced: () => { ex.upgraded = true; },
      closed: () => { if (run !== undefined && ex.upgraded === true) runLogAndFinish(run); },
    };
    proxyWebSocket(ex, route, this.o.pools, this.o.serverHeader, hooks);
  }

  /** Answers with a catalogued error, through the plugins' response phases when the request has any. */
  fail(ex: Exchange, code: ErrorCode, close = false, message: string = ERRORS[code].message): void {
    if (answersInGrpc(ex)) {
      const status = code === 'GH_ERR_UPSTREAM_DEADLINE' ? GRPC_STATUS.DEADLINE_EXCEEDED : grpcStatusOfHttp(ERRORS[code].status);
      this.answerGrpc(ex, status, message);
      return;
    }
    if (ex.plugins === undefined) {
      sendError(ex.res, code, this.o.serverHeader, message, close);
      return;
    }
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (close) headers.connection = 'close';
    this.respondLocal(ex, { status: ERRORS[code].status, headers, body: Buffer.from(JSON.stringify({ error_msg: message }) + '\n') });
  }

  /**
   * The gateway's own answer to a gRPC request: a trailers-only response (HTTP 200,
   * grpc-status and grpc-message in the one HEADERS frame), as Envoy answers, so a gRPC
   * client reads the gateway's reason rather than a bare HTTP status.
   */
  private answerGrpc(ex: Exchange, grpcStatus: number, message: string): void {
    ex.grpcStatus = String(grpcStatus);
    const headers = trailersOnlyHeaders(grpcStatus, message);
    if (ex.plugins !== undefined) {
      this.respondLocal(ex, { status: 200, headers, body: undefined });
      return;
    }
    if (ex.res.headersSent) {
      ex.res.destroy();
      return;
    }
    ex.res.writeHead(200, { ...headers, server: this.o.serverHeader }, undefined, true);
    ex.res.end();
  }

  /** Writes a response the gateway made itself (a plugin's decision or an error), after header_filter and body_filter. */
  private respondLocal(ex: Exchange, given: Decision): void {
    const run = ex.plugins!;
    const { res } = ex;
    let d = given;
    // a plugin's refusal of a gRPC request (key-auth's 401…) as a gRPC status, its message as grpc-message
    if (d.status !== 200 && answersInGrpc(ex)) {
      const grpcStatus = grpcStatusOfHttp(d.status);
      ex.grpcStatus = String(grpcStatus);
      d = { status: 200, headers: trailersOnlyHeaders(grpcStatus, grpcMessageOf(d.status, d.body)), body: undefined };
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const state = new ResponseState();
    state.status = d.status;
    for (const [k, v] of Object.entries(d.headers)) state.setHeader(k, v);
    state.setHeader('server', this.o.serverHeader);
    this.answerThroughPhases(ex, run, state, d.body);
  }

  /** A whole answer the gateway holds (its own, or an upstream's refusal of an upgrade): header_filter, body_filter, then the client. */
  private answerThroughPhases(ex: Exchange, run: PluginRun, state: ResponseState, body: Buffer | undefined): void {
    run.response = state;
    const r = runHeaderFilter(run);
    if (r !== undefined) r.then(() => this.localBody(ex, run, body), () => ex.res.destroy());
    else this.localBody(ex, run, body);
  }

  private localBody(ex: Exchange, run: PluginRun, given: Buffer | undefined): void {
    const body = given ?? EMPTY;
    if (!hasBodyFilters(run)) {
      this.writeLocal(ex, run, body);
      return;
    }
    let out: Buffer | Promise<Buffer>;
    try {
      out = runBodyFilter(run, body, true);
    } catch {
      ex.res.destroy(); // a body filter gave the answer up (ResponseFailure, logged): nothing else can be sent
      return;
    }
    if (isPromise(out)) out.then((b) => this.writeLocal(ex, run, b), () => ex.res.destroy());
    else this.writeLocal(ex, run, out);
  }

  private writeLocal(ex: Exchange, run: PluginRun, body: Buffer): void {
    if (ex.res.headersSent || ex.clientGone) return;
    const state = run.response;
    // a 204 or 304 has no body and no Content-Length (RFC 9110 §8.6)
    if (state.status === 204 || state.status === 304) {
      state.setHeader('content-length', undefined);
      ex.res.writeHead(state.status, state.flatten(), undefined, true);
      ex.res.end();
      return;
    }
    state.setHeader('content-length', String(body.length));
    ex.res.writeHead(state.status, state.flatten(), undefined, true);
    ex.res.end(body);
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * The gateway's own answers to a gRPC request are gRPC ones (trailers-only), except on a
 * route whose upstream is plain HTTP/2 (`scheme: http2`): HTTP semantics there, so the
 * ordinary error bodies, as nginx's `proxy_pass` would give.
 */
function answersInGrpc(ex: Exchange): boolean {
  return isGrpcRequest(ex.req) && ex.route?.pool?.scheme !== 'http2';
}

function noop(): void {}
