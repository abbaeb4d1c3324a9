import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { PluginResponse } from './plugin.js';
import type { TraceRecorder } from './trace-record.js';

/**
 * One step of the request body on its way upstream: each chunk, then a final call with
 * `eof` (its chunk possibly empty); returns what goes on (an empty Buffer: nothing yet).
 * Throwing RequestBodyRejected answers the client with its decision instead.
 */
export type RequestBodyFilter = (chunk: Buffer, eof: boolean) => Buffer | Promise<Buffer>;

/** The request facts the plugin runtime reads directly (the rest through variables). */
export interface ExchangeFacts {
  /** nginx `uri`: the decoded, normalised path. */
  readonly path: string;
  /** Raw query string without `?`. */
  readonly query: string;
  readonly host: string;
  remoteAddr: string;
  consumerName?: string;
}

/** A request's nginx/APISIX variables, resolved lazily (data-plane/request-vars.ts). */
export interface ExchangeVariables {
  readonly facts: ExchangeFacts;
  /** Some variable was set by a plugin or the proxy (those win over computed ones). */
  readonly hasOverrides: boolean;
  get(name: string): unknown;
  set(name: string, value: unknown): void;
  /** A query argument, decoded (the first of repeated ones). */
  arg(name: string): string | undefined;
}

/**
 * One request as the plugin runtime sees it: what it reads, and what plugins change on
 * the way upstream. The data plane's Exchange implements it, so the runtime depends on
 * this contract and never on the data plane.
 */
export interface ExchangeView {
  readonly req: { readonly method: string; readonly headers: IncomingHttpHeaders; readonly body: Readable | null };
  readonly vars: ExchangeVariables;
  readonly route: { readonly id: string; readonly service?: { readonly id: string } | undefined } | undefined;
  /** Monotonic ms when the request started. */
  readonly startedAt: number;
  /** Header changes for the upstream request (lower-case name → value; undefined removes). */
  requestHeaderEdits: Map<string, string | undefined> | undefined;
  upstreamUri: string;
  upstreamHost: string | undefined;
  upstreamMethod: string | undefined;
  /** A plugin's choice of upstream instead of the route's (PluginContext.setUpstream). */
  upstreamChoice?: import('./plugin.js').UpstreamChoice;
  statusRetry?: (status: number) => boolean;
  /** The whole request body once read into memory or replaced; undefined while it would stream. */
  readonly bufferedBody: Buffer | undefined;
  /** Reads the whole body into memory (once; at most `limit` bytes, a 413 error beyond). */
  readBody(limit: number): Promise<Buffer>;
  /** Whether proxying to `choice` from this request's route has a node its health checks do not mark down. */
  upstreamHealthy?(choice: import('./plugin.js').UpstreamChoice): boolean;
  /** Replaces the body sent upstream (an unread client body is drained). */
  replaceBody(body: Buffer): void;
  /** Adds a filter the body passes through on its way upstream (see PluginRequest.filterBody). */
  addRequestBodyFilter(filter: RequestBodyFilter): void;
  /** What tracing plugins read of this request (upstream attempts, handler calls); undefined until one asks or node `tracing` is on. */
  trace?: TraceRecorder;
  /** Whether `name` is a variable known once the request is done (upstream_*, bytes_sent, …). */
  isFinishedVar(name: string): boolean;
  /** Such a variable (undefined when unknown or not known yet); `sent_http_*` read `response`. */
  finishedVar(name: string, response: PluginResponse | undefined): unknown;
}
