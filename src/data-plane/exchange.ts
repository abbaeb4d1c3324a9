import type { HttpRequest } from './http1/request.js';
import type { HttpResponse } from './http1/response.js';
import type { CompiledRoute, DataPlaneSnapshot } from './snapshot.js';
import { RequestVars } from './request-vars.js';

/**
 * One request's journey through the data plane: what was matched and what has been
 * decided so far. Phase handlers (the plugin runtime) read and write this, never the
 * raw response.
 */
export class Exchange {
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
  /** The plugin run of this request, when the route or a global rule has plugins. */
  plugins: import('../plugin-runtime/plugin-run.js').PluginRun | undefined;
  /** The node of the last upstream attempt, its response status and how long it took (ms): nginx's `upstream_*` variables, for loggers and metrics. */
  upstreamNode: import('../contracts/balancer.js').BalancerNode | undefined;
  upstreamStatus: number | undefined;
  upstreamMs: number | undefined;
  /**
   * The whole request body, when it has been read into memory (then it is what goes
   * upstream, with its own Content-Length, and idempotent requests may be retried on
   * another node); undefined while the body streams from the client.
   */
  bufferedBody: Buffer | undefined;
  clientGone = false;
  readonly startedAt: number;

  constructor(
    readonly req: HttpRequest,
    readonly res: HttpResponse,
    readonly snapshot: DataPlaneSnapshot,
    path: string,
    query: string,
    host: string,
    remoteAddr: string,
    serverPort: number,
    scheme: 'http' | 'https',
    upstreamUri: string,
  ) {
    this.vars = new RequestVars({ req, path, query, host, remoteAddr, serverPort, scheme });
    this.upstreamUri = upstreamUri;
    this.startedAt = performance.now();
  }

  /** The request body passed `max_body_size` while streaming (the connection counted it). */
  get bodyTooLarge(): boolean {
    return this.req.bodyTooLarge;
  }
}
