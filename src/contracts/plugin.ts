import type { Logger } from 'pino';
import type { TraceRecord } from './trace-record.js';

/**
 * Plugin phases, in request order. The request side (`rewrite`, `access`,
 * `before_proxy`) may end the request by returning a PhaseResult; the response side
 * (`header_filter`, `body_filter`, `log`) runs in reverse plugin order (the onion) and
 * its return values are ignored except body_filter's replacement chunk.
 */
export type Phase = 'rewrite' | 'access' | 'before_proxy' | 'header_filter' | 'body_filter' | 'log';
export const REQUEST_PHASES = ['rewrite', 'access', 'before_proxy'] as const;
export type RequestPhase = (typeof REQUEST_PHASES)[number];

/**
 * Execution stages, in request order (seed 000: Authorization > Authentication >
 * Statistics > Default). Higress's AUTHN, AUTHZ, STATS and UNSPECIFIED_PHASE name the
 * same positions.
 */
export type Stage = 'authorization' | 'authentication' | 'statistics' | 'default';
export const STAGES: readonly Stage[] = ['authorization', 'authentication', 'statistics', 'default'];
export const STAGE_ALIASES: Record<string, Stage> = {
  AUTHN: 'authorization', AUTHZ: 'authentication', STATS: 'statistics', UNSPECIFIED_PHASE: 'default',
  authorization: 'authorization', authentication: 'authentication', statistics: 'statistics', default: 'default',
};

/** What a request-side handler returns to end the request. Nothing (undefined) means continue. */
export interface PhaseResult {
  status: number;
  /** Object → JSON + newline; string or Buffer as is. */
  body?: unknown;
  headers?: Record<string, string>;
}

/** A consumer as the runtime sees it once an auth plugin has identified one. */
export interface ConsumerRef {
  username: string;
  group_id?: string;
  credential_id?: string;
  plugins: Record<string, Record<string, unknown>>;
  labels?: Record<string, string>;
}

/** The request as plugins see it. Header names are lower-case. */
export interface PluginRequest {
  readonly method: string;
  /** nginx `uri`: the decoded, normalised path. */
  readonly uri: string;
  readonly host: string;
  readonly remoteAddr: string;
  header(name: string): string | undefined;
  /** Sets (or with undefined, removes) a header sent upstream. */
  setHeader(name: string, value: string | undefined): void;
  arg(name: string): string | undefined;
  /** Path and query sent upstream (nginx `upstream_uri`). */
  upstreamUri: string;
  /** Host header sent upstream; undefined keeps the upstream's pass_host rule. */
  upstreamHost: string | undefined;
  /** Method sent upstream; undefined keeps the client's. */
  upstreamMethod: string | undefined;
  /** Every header as sent upstream, lower-case names, repeated ones joined with ", " (for loggers). */
  allHeaders?(): Record<string, string>;
  /** How many headers allHeaders would list (without building it). */
  headerCount?(): number;
  /**
   * The whole request body, read into memory on first call (at most
   * `node.max_buffered_body_size` bytes, else the request fails with 413); an
   * empty Buffer when there is none. Once read it is sent upstream from memory. Bodies
   * no plugin asks for stream to the upstream untouched.
   */
  body(): Promise<Buffer>;
  /** Replaces the body sent upstream (Content-Length follows it). */
  setBody(body: Buffer | string): void;
  /**
   * Passes the body through `filter` as it streams upstream (chunk by chunk, then a
   * final call with eof), without reading it all first; the upstream request then goes
   * chunked (its length may change) and is not retried. Filters run in the order added.
   */
  filterBody?(filter: (chunk: Buffer, eof: boolean) => Buffer | Promise<Buffer>): void;
}

/** The response as header_filter / body_filter / log see it. */
export interface PluginResponse {
  status: number;
  header(name: string): string | undefined;
  setHeader(name: string, value: string | undefined): void;
  /** Adds one more value (e.g. another Set-Cookie) instead of replacing. */
  addHeader(name: string, value: string): void;
  /** Every header, lower-case names, repeated ones joined with ", " (for loggers). */
  allHeaders?(): Record<string, string>;
  /** Every header as the flat [name, value, …] list it is written from, repeated ones separate (do not modify). */
  flatHeaders?(): readonly string[];
}

/**
 * Where a request goes instead of its route's upstream: a stored upstream by id, or an
 * inline upstream object (validated with the upstream schema). Pass the same object on
 * every request (build it in prepare): the data plane builds its balancer, health checks
 * and pool once per object and config snapshot, keyed by identity.
 */
export type UpstreamChoice = { readonly upstream_id: string } | { readonly upstream: Record<string, unknown> };

export interface PluginContext {
  readonly request: PluginRequest;
  /** Valid from header_filter on. */
  readonly response: PluginResponse;
  /**
   * Sets (undefined: removes) a header of the response this request gets, whichever
   * answers it: the upstream's response, a plugin's decision or a gateway error. Callable
   * in any phase: set in a request phase it is applied once the response's headers are
   * known, before header_filter runs (so header_filter handlers see it and may change it),
   * replacing a header of the same name; the last call for a name wins. APISIX's
   * `core.response.set_header` called in rewrite or access.
   */
  setResponseHeader(name: string, value: string | undefined): void;
  /** nginx/APISIX variables (`uri`, `arg_x`, `http_x`, `route_id`, …). */
  var(name: string): unknown;
  setVar(name: string, value: unknown): void;
  readonly routeId: string | undefined;
  readonly serviceId: string | undefined;
  readonly consumer: ConsumerRef | undefined;
  /** For auth plugins: attaches the identified consumer; its (and its group's) plugins are merged in next. */
  attachConsumer(consumer: ConsumerRef): void;
  /**
   * Request phases: proxies this request to `choice` instead of the route's upstream
   * (the last call wins). A stored upstream that does not exist answers as a route whose
   * upstream is missing. APISIX's traffic-split does this with `ctx.upstream_conf`.
   * Contexts made outside the data plane may not offer it.
   */
  setUpstream?(choice: UpstreamChoice): void;
  /**
   * Request phases: a second chance when the upstream answers with an unwanted status.
   * `retry(status)` runs when the response head arrives; returning true says it chose
   * another upstream (setUpstream) and rewrote the request for it: that response is then
   * discarded before anything reaches the client or the response phases, and the request
   * is sent again. Only a request whose body is held in memory (or empty) is retried.
   * Contexts made outside the data plane may not offer it.
   */
  retryOnStatus?(retry: (status: number) => boolean): void;
  /**
   * Whether `choice` (as setUpstream takes it) has a node its health checks do not mark
   * down; an upstream with checks starts them on the first call. Contexts made outside
   * the data plane may not offer it.
   */
  upstreamHealthy?(choice: UpstreamChoice): boolean;
  /** Per-request scratch space shared by plugins (APISIX `ctx`). */
  readonly shared: Map<string, unknown>;
  readonly log: Logger;
  /** Monotonic ms when the request started. */
  readonly startedAt: number;
  /**
   * Aborted when the client goes away or a plugin call of this request overran
   * `node.plugin_timeout`: give it to fetches and timers a handler starts.
   */
  readonly signal: AbortSignal;
  /**
   * Runs `fn` once the request is finished (its log phase done): for per-request
   * resources a plugin must free (the serverless plugins' isolate context). Contexts made
   * outside the runner may not offer it.
   */
  onFinished?(fn: () => void): void;
  /**
   * For tracing plugins: this request's record (made on the first call), holding its
   * upstream attempts from then on and, when the node config's `tracing` is on, every plugin
   * handler call since the request began. Contexts made outside the runner may not offer it.
   */
  traceRecord?(): TraceRecord;
  /**
   * For a tracing plugin that shows handler calls (Plugin.showsHandlerCalls) and will not
   * for this request (its sampler turned it down): the runner stops timing them.
   */
  stopHandlerCalls?(): void;
}

/** What a match-time resolver may read of the request (data-plane/request-vars.ts). */
export interface MatchTimeRequest {
  /** Any request variable (`remote_addr`, …). */
  get(name: string): unknown;
  /** A request header (lower-case name), several values joined with `, `. */
  header(name: string): string | undefined;
  /** `make()` once per request and `key`: the resolver's work is shared by the variables it gives. */
  memo<T>(key: object, make: () => T): T;
}

/** Resolves one of a plugin's match-time variables for a request; undefined reads nil. */
export type MatchTimeResolver = (name: string, request: MatchTimeRequest) => unknown;

export interface PrepareEnv {
  /** The plugin's metadata object, if one is configured (`plugin_metadata/<name>`). */
  metadata: Record<string, unknown> | undefined;
  /** All consumers (for auth plugins building key tables). */
  consumers: readonly ConsumerRef[];
  /**
   * `stream` when the instance is on a stream route (its `stream` phases run, with a
   * session's variables), as APISIX's `ngx.config.subsystem`; absent: an HTTP one.
   */
  subsystem?: 'http' | 'stream';
}

/**
 * A TCP connection or UDP session of a stream route, as stream plugins see it (APISIX's
 * stream subsystem: `preread` once the route is matched, `log` when the session ends).
 */
export interface StreamSession {
  readonly protocol: 'tcp' | 'udp';
  readonly remoteAddr: string;
  readonly routeId: string;
  /**
   * Stream variables: `remote_addr`, `remote_port`, `server_addr`, `server_port`,
   * `ssl_server_name`, `protocol`, `route_id`, and once the session ended `bytes_received`,
   * `bytes_sent`, `upstream_addr`, `session_time`, `status` (nginx's stream status: 200,
   * 403, 502, 503). Unknown names read undefined.
   */
  var(name: string): unknown;
  /** Per-session scratch space shared by plugins. */
  readonly shared: Map<string, unknown>;
  readonly log: Logger;
  /** Monotonic ms when the session started. */
  readonly startedAt: number;
}

/** What `preread` returns to end the session: the connection is closed (nginx stream status `status`). */
export interface StreamRefusal { status: number; reason: string }

/** A plugin's stream phases; a plugin with them may be configured on stream routes. */
export interface StreamPhases<P> {
  preread?(prepared: P, session: StreamSession): Awaitable<StreamRefusal | void>;
  log?(prepared: P, session: StreamSession): void;
}

type Awaitable<T> = T | Promise<T>;
export type RequestHandler<P> = (prepared: P, ctx: PluginContext) => Awaitable<PhaseResult | void>;

/**
 * A plugin. Built-ins are one file each under src/plugins/; custom JS plugins use the
 * same shape; wasm plugins are adapted into it. The runtime injects `_meta` into
 * `schema`; a plugin never declares it.
 */
export interface Plugin<C = any, P = any> {
  name: string;
  version: string | number;
  /** One line for the marketplace card (built-ins: the first sentence of their docs page). */
  description?: string;
  stage: Stage;
  /** Within the stage a larger value runs first. */
  priority: number;
  type?: 'auth';
  /** `prefer_route`: a global-rule instance is skipped when the route configures the same plugin. */
  runPolicy?: 'prefer_route';
  schema: Record<string, unknown>;
  consumerSchema?: Record<string, unknown>;
  metadataSchema?: Record<string, unknown>;
  /** Checks a plugin_metadata object that passed metadataSchema (e.g. the variables a log_format names). Throwing refuses it. */
  checkMetadata?(metadata: Record<string, unknown>): void;
  /**
   * For variables the plugin sets that it can also resolve before routes are matched, from
   * its plugin_metadata (names registered with core/expr's registerMatchTimeVariable):
   * called once per config snapshot that has the metadata; returns their resolver, or
   * undefined when the metadata gives none (they read nil until the plugin sets them).
   * Throwing logs the error and leaves them nil.
   */
  matchTimeVariables?(metadata: Record<string, unknown>): MatchTimeResolver | undefined;
  /** Compiles a validated config once per config snapshot. Throwing refuses the config. */
  prepare?(conf: C, env: PrepareEnv): P;
  /** Runs before every stage, for answers that must precede authentication (CORS preflight). */
  preflight?: RequestHandler<P>;
  rewrite?: RequestHandler<P>;
  access?: RequestHandler<P>;
  before_proxy?: RequestHandler<P>;
  /** May return a promise: the response is held (the upstream paused) until it settles. */
  header_filter?(prepared: P, ctx: PluginContext): void | Promise<void>;
  /**
   * Whether this instance needs the body at all. Without this hook a plugin with
   * body_filter always gets the body, and the response loses its Content-Length (the
   * body may change size); say false when the config does not touch the body.
   */
  filtersBody?(prepared: P): boolean;
  /**
   * true: this instance's body_filter only reads the body (returns every chunk as given),
   * so the response keeps its Content-Length when every body filter says so.
   */
  keepsBodyLength?(prepared: P): boolean;
  /**
   * A tracing plugin that turns handler calls into spans: with the node config's `tracing`
   * on, only requests through a chain holding such a plugin record their handler calls.
   */
  showsHandlerCalls?: boolean;
  /**
   * Returns a replacement chunk, a Buffer or a string (UTF-8), or undefined to keep it;
   * or a promise of one (later chunks wait, the upstream is paused). `eof` marks the last call.
   */
  body_filter?(prepared: P, ctx: PluginContext, chunk: Buffer, eof: boolean): Buffer | string | undefined | Promise<Buffer | string | undefined>;
  log?(prepared: P, ctx: PluginContext): void | Promise<void>;
  /** Stream routes (TCP/UDP): APISIX's stream plugins have the same name and schema. */
  stream?: StreamPhases<P>;
  init?(): void | Promise<void>;
  destroy?(): void | Promise<void>;
}
