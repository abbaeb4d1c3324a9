import type { HttpRequest } from './http1/request.js';
import type { ClientResponse } from './client-response.js';
import type { Http1Connection } from './http1/connection.js';
import type { CompiledRoute, DataPlaneSnapshot } from './snapshot.js';
import { RequestVars } from './request-vars.js';
import type { ExchangeView, RequestBodyFilter } from '../contracts/exchange.js';
import type { PluginResponse, UpstreamChoice } from '../contracts/plugin.js';
import type { TraceRecorder } from '../contracts/trace-record.js';
import { readRequestBody, setBufferedBody } from './request-body.js';
import { FINISHED_VARS, finishedVar } from './finished-vars.js';

/**
 * One request's journey through the data plane: what was matched and what has been
 * decided so far. Phase handlers (the plugin runtime) read and write this, never the
 * raw response.
 */
export class Exchange implements ExchangeView {
  readonly vars: RequestVars;
  route: CompiledRoute | undefined;
  /** The path and query forwarded upstream (nginx `upstream_uri`); the client's target unless rewritten. */
  upstreamUri: string;
  /** Header changes plugins asked for on the upstream request (lower-case name → value, undefined removes). */
  requestHeaderEdits: Map<string, string | undefined> | undefined;
  /** Host header override (proxy-rewrite `host`); undefined keeps the upstream's pass_host rule. */
  upstreamHost: string | undefined;
  /** Method override (proxy-rewrite `method`). */
  upstreamMethod: string | undefined;
  /** A plugin's choice of upstream (PluginContext.setUpstream); undefined: the route's. */
  upstreamChoice: UpstreamChoice | undefined = undefined;
  /** A plugin's retry on an unwanted response status (PluginContext.retryOnStatus). */
  statusRetry: ((status: number) => boolean) | undefined = undefined;
  /** The plugin run of this request, when the route or a global rule has plugins. */
  plugins: import('../plugin-runtime/plugin-run.js').PluginRun | undefined;
  /** The node of the last upstream attempt, its response status and how long it took (ms): nginx's `upstream_*` variables, for loggers and metrics. */
  upstreamNode: import('../contracts/balancer.js').BalancerNode | undefined;
  upstreamStatus: number | undefined;
  upstreamMs: number | undefined;
  /** ms from sending the request to the upstream's response head (nginx `upstream_header_time`). */
  upstreamHeaderMs: number | undefined;
  /** Body bytes the upstream sent (nginx `upstream_response_length`). */
  upstreamBodyBytes: number | undefined;
  /** The upstream response head as received (flat names and values), for `upstream_http_*`. */
  upstreamHeaders: readonly string[] | undefined;
  /** The Host header sent upstream (nginx `upstream_host`). */
  upstreamHostSent: string | undefined;
  /** A gRPC response's grpc-status (`$grpc_status`), from the upstream or the gateway's own answer. */
  grpcStatus: string | undefined;
  /** Its grpc-message, as received (percent-encoded). */
  grpcMessage: string | undefined;
  clientGone = false;
  /** What tracing plugins read of this request (ExchangeView.trace). */
  trace: TraceRecorder | undefined = undefined;
  /** The whole request body, once a plugin read it into memory (or replaced it): sent upstream from here, retryable. */
  bufferedBody: Buffer | undefined;
  /** The read in progress, shared by plugins that ask at the same time. */
  bodyReading: Promise<Buffer> | undefined;
  /** Filters the body passes through on its way upstream (plugins' filterBody), in order. */
  requestBodyFilters: RequestBodyFilter[] | undefined;
  /** Set for a WebSocket upgrade request: the connection whose socket is handed over once the upstream accepts. */
  upgradeConnection: Http1Connection | undefined;
  /** For an upgrade: true once spliced, false when answered with an HTTP response instead. */
  upgraded: boolean | undefined;
  readonly startedAt: number;

  constructor(
    readonly req: HttpRequest,
    readonly res: ClientResponse,
    readonly snapshot: DataPlaneSnapshot,
    path: string,
    query: string,
    host: string,
    remoteAddr: string,
    serverPort: number,
    scheme: 'http' | 'https',
    upstreamUri: string,
  ) {
    this.vars = new RequestVars({ req, path, query, host, remoteAddr, serverPort, scheme }, snapshot.plugins.matchTime);
    this.upstreamUri = upstreamUri;
    this.startedAt = performance.now();
  }

  readBody(limit: number): Promise<Buffer> {
    return readRequestBody(this, limit);
  }

  upstreamHealthy(choice: UpstreamChoice): boolean {
    if (this.route === undefined) return true;
    const target = this.snapshot.withUpstream(this.route, choice).upstream;
    return target !== undefined && target.healthyNodeIds().length > 0;
  }

  replaceBody(body: Buffer): void {
    const stream = this.req.body;
    // The client's body is replaced unread: it is drained, never sent upstream.
    if (this.bufferedBody === undefined && stream !== null && this.bodyReading === undefined) stream.resume();
    setBufferedBody(this, body, true);
  }

  addRequestBodyFilter(filter: RequestBodyFilter): void {
    (this.requestBodyFilters ??= []).push(filter);
    // the filtered body may change length: it goes chunked
    (this.requestHeaderEdits ??= new Map()).set('content-length', undefined);
  }

  isFinishedVar(name: string): boolean {
    return FINISHED_VARS.has(name);
  }

  finishedVar(name: string, response: PluginResponse | undefined): unknown {
    return finishedVar(this, name, response);
  }

  /** The request body passed `max_body_size` while streaming (the connection counted it). */
  get bodyTooLarge(): boolean {
    return this.req.bodyTooLarge;
  }
}
