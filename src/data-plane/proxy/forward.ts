import type { BalancerNode } from '../../contracts/balancer.js';
import type { Exchange } from '../exchange.js';
import type { CompiledRoute } from '../snapshot.js';
import type { PoolRegistry } from './pools.js';
import type { ResponseHandler } from '../http1-client/connection.js';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js';
import { classifyUpstreamError, failureMayRetry, withinRetryBudget } from './upstream-errors.js';
import { recordAttempt } from './attempt-record.js';
import type { ErrorCode } from '../../core/errors.js';
import { FilteredResponse } from '../filtered-response.js';
import type { ResponseFailure } from '../../plugin-runtime/response-failure.js';
import { RequestBodyRejected } from '../../plugin-runtime/request-body-rejected.js';
import { countPluginResponse } from '../../observability/plugin-responses.js';
import type { Decision } from '../../plugin-runtime/runner.js';
import type { RequestBodyFilter } from '../../contracts/exchange.js';
import { urlHost } from '../../core/host-port.js';

export interface ForwardDeps {
  pools: PoolRegistry;
  serverHeader: string;
  /** Called once when the client response is closed (finished or aborted). */
  onClosed(): void;
  /** Answers the request with a catalogued error (through the plugins' response phases when there are any); `message` replaces the catalogue's text. */
  fail(ex: Exchange, code: ErrorCode, close?: boolean, message?: string): void;
  /** Answers with a response the gateway made (through the response phases). */
  respond(ex: Exchange, decision: Decision): void;
}

export function hostHeader(route: CompiledRoute, node: BalancerNode, clientHost: string | undefined): string {
  if (route.passHost === 'rewrite' && route.upstreamHost !== undefined) return route.upstreamHost;
  if (route.passHost === 'node') {
    const host = urlHost(node.host);
    const defaultPort = route.pool?.scheme === 'https' || route.pool?.scheme === 'grpcs' ? 443 : 80;
    return node.port === defaultPort ? host : `${host}:${node.port}`;
  }
  return clientHost ?? node.host;
}

/**
 * Drops the client's Content-Length: a body held in memory (which a plugin may have
 * changed) goes with its exact length, and a filtered body goes chunked; the upstream
 * client writes either framing itself.
 */
function dropContentLength(headers: string[]): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    if (headers[i]!.length === 14 && headers[i]!.toLowerCase() === 'content-length') headers.splice(i, 2);
  }
}

/**
 * Streams one request to an upstream node and the response back, trying other nodes
 * on failures that are safe to retry. It is the upstream client's response handler, so
 * the response goes from the upstream socket's reads to the client socket with no stream
 * in between.
 */
export class Forwarder implements ResponseHandler {
  private node!: BalancerNode;
  private tried: Set<string> | undefined;
  private attempts = 0;
  private readonly firstStart: number;
  private attemptStart = 0;
  /** The status the current attempt's node answered with (for the trace record). */
  private attemptStatus: number | undefined;
  private abortUpstream: ((err?: Error) => void) | undefined;
  private resume: (() => void) | undefined;
  private headers: string[] | undefined;
  /** The request body streams from the client: it can be sent once, so such a request is never retried. */
  private streamedBody = false;
  /** A request body filter answered the client itself (RequestBodyRejected). */
  private bodyRejected: RequestBodyRejected | undefined;
  /** The upload stopped because the client stopped sending: the attempt's failure is the client's, not the node's. */
  private clientStalled = false;
  /** The response's way through header_filter and body_filter, when the request has plugins. */
  private filtered: FilteredResponse | undefined;
  /** A body_filter threw ResponseFailure; the upstream was aborted by us. */
  private filterFailed = false;
  /** The response's status was refused by the request's statusRetry: its body is read and dropped, then the request goes again. */
  private discarding = false;

  constructor(private readonly ex: Exchange, private route: CompiledRoute, private readonly deps: ForwardDeps) {
    this.firstStart = performance.now();
    ex.res.onClose(this.onClientClose);
  }

  private readonly onClientClose = (): void => {
    this.deps.onClosed();
    if (!this.ex.res.writableFinished) {
      this.ex.clientGone = true;
      this.abortUpstream?.();
    }
  };

  private readonly onDrain = (): void => {
    if (this.filtered !== undefined) this.filtered.drained();
    else this.resume?.();
  };

  start(): void {
    const { ex, route } = this;
    const up = route.upstream!;
    const node = up.pick({ hashKey: route.hashKey?.(ex.vars), tried: this.tried });
    if (node === undefined) {
      this.deps.fail(ex, up.noNodeError);
      return;
    }
    this.node = node;
    ex.upstreamNode = node;
    up.acquire(node);
    const host = ex.upstreamHost ?? hostHeader(route, node, ex.req.headers.host);
    ex.upstreamHostSent = host;
    const buffered = ex.bufferedBody;
    if (this.headers === undefined) {
      const v = ex.vars.facts;
      this.headers = upstreamRequestHeaders(ex.req, {
        host, remoteAddr: v.remoteAddr, proto: v.scheme, clientHost: ex.req.headers.host ?? v.host, serverPort: v.serverPort,
      }, ex.requestHeaderEdits);
      const filters = ex.requestBodyFilters;
      if (filters !== undefined || buffered !== undefined) dropContentLength(this.headers);
      this.streamedBody = (buffered === undefined && ex.req.body !== null) || filters !== undefined;
    } else {
      this.headers[1] = host;
    }
    this.attemptStart = performance.now();
    this.attemptStatus = undefined;
    if (this.streamedBody && ex.requestBodyFilters === undefined) this.watchUpload();
    const pool = this.deps.pools.get(node, route.pool!);
    // a request that had no body and still has none goes without one (no Content-Length: 0 on a GET)
    const source = buffered !== undefined && (buffered.length > 0 || ex.req.body !== null) ? buffered : ex.req.body;
    pool.dispatch({
      path: ex.upstreamUri,
      method: ex.upstreamMethod ?? ex.req.method,
      headers: this.headers,
      body: ex.requestBodyFilters === undefined || source === null
        ? source : filteredBody(source, ex.requestBodyFilters, (rejection) => { this.bodyRejected = rejection; }),
      readTimeoutMs: route.readTimeoutMs,
    }, this);
  }
  /**
   * nginx's send timeout: while the body is being uploaded, a client socket that sees no
   * traffic for `timeout.send` means one side stopped. Whose fault it is decides who is
   * blamed: a body the upstream client paused (or has not drained) means the upstream stopped taking
   * data, a 504 counted against the node; a body flowing with nothing buffered means
   * we are waiting on the client, a 408 that says nothing about the node's health.
   * Disarmed once the body is read.
   */
  private watchUpload(): void {
    const { req } = this.ex;
    const body = req.body;
    if (body === null || body.readableEnded) return;
    const socket = req.uploadChannel;
    const onTimeout = (): void => {
      const waitingOnClient = body.readableFlowing === true && body.readableLength === 0;
      if (waitingOnClient) this.clientStalled = true;
      const err = waitingOnClient
        ? Object.assign(new Error('client stopped sending the request body'), { code: 'GH_CLIENT_BODY_TIMEOUT' })
        : Object.assign(new Error('upstream send timed out'), { code: 'GH_SEND_TIMEOUT' });
      this.abortUpstream?.(err);
    };
    socket.setTimeout(this.route.sendTimeoutMs, onTimeout);
    body.once('end', () => {
      socket.removeListener('timeout', onTimeout);
      socket.setTimeout(0);
    });
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.ex.clientGone || this.ex.bodyTooLarge) abort();
  }

  onHeaders(statusCode: number, rawHeaders: string[], resume: () => void, statusText: string): boolean {
    const { res } = this.ex;
    this.route.upstream!.report(this.node, { status: statusCode });
    this.ex.upstreamStatus = statusCode;
    this.attemptStatus = statusCode;
    this.ex.upstreamHeaderMs = performance.now() - this.attemptStart;
    this.ex.upstreamHeaders = rawHeaders;
    this.ex.upstreamBodyBytes = 0;
    if (res.headersSent) return true; // a retried attempt cannot answer twice; unreachable in practice
    const retry = this.ex.statusRetry;
    if (retry !== undefined && !this.streamedBody && retriesOn(retry, statusCode)) {
      this.discarding = true;
      return true;
    }
    const run = this.ex.plugins;
    this.resume = resume;
    res.onDrain(this.onDrain);
    if (run === undefined) {
      res.writeHead(statusCode, statusText, clientResponseHeaders(rawHeaders, this.deps.serverHeader), true);
      return true;
    }
    this.filtered = new FilteredResponse(this.ex, run, resume, this.failFromFilter);
    return this.filtered.head(statusCode, statusText, clientResponseHeaders(rawHeaders, this.deps.serverHeader));
  }

  onData(chunk: Buffer): boolean {
    this.ex.upstreamBodyBytes! += chunk.length;
    if (this.discarding) return true;
    if (this.filtered !== undefined) return this.filtered.data(chunk);
    return this.ex.res.write(chunk);
  }

  /** See ResponseHandler.pieceReleased: the last piece was dropped, or the client's socket took it whole. */
  pieceReleased(): boolean {
    return this.discarding || (this.filtered === undefined ? this.ex.res.flushed : this.filtered.pieceReleased());
  }

  onComplete(): void {
    const ms = performance.now() - this.attemptStart;
    this.ex.upstreamMs = ms;
    this.route.upstream!.release(this.node, ms, false);
    recordAttempt(this.ex.trace, this.node, this.attemptStart, this.attemptStatus);
    if (this.discarding) this.sendAgain();
    else if (this.filtered !== undefined) this.filtered.end();
    else this.ex.res.end();
  }

  /** A body_filter gave the response up: its error answers instead (or the connection is cut once bytes went out). */
  private readonly failFromFilter = (err: ResponseFailure): void => {
    this.filterFailed = true;
    this.abortUpstream?.(err);
    if (this.ex.res.headersSent) this.ex.res.destroy(err);
    else this.deps.fail(this.ex, err.code);
  };

  /** The request again, to the upstream a statusRetry chose, as a fresh first attempt. */
  private sendAgain(): void {
    const { ex } = this;
    this.discarding = false;
    this.abortUpstream = undefined;
    this.headers = undefined;
    this.tried = undefined;
    this.attempts = 0;
    if (ex.clientGone) return;
    this.route = ex.upstreamChoice === undefined ? ex.route! : ex.snapshot.withUpstream(ex.route!, ex.upstreamChoice);
    if (this.route.upstreamError !== undefined) this.deps.fail(ex, this.route.upstreamError, false, this.route.upstreamErrorMessage);
    else this.start();
  }

  onError(err: Error): void {
    const { ex, route } = this;
    const up = route.upstream!;
    // a body filter that gave the answer up (filterFailed) is the gateway's failure: the node's attempt is what it sent
    if (this.node !== undefined) recordAttempt(ex.trace, this.node, this.attemptStart, this.attemptStatus, this.filterFailed ? undefined : err);
    if (this.discarding && !ex.clientGone) {
      // the refused response broke off while it was being dropped: its node is not at fault for the retry
      if (this.node !== undefined) up.release(this.node, undefined, false);
      this.sendAgain();
      return;
    }
    const rejected = this.bodyRejected;
    if (rejected !== undefined) {
      // a plugin answered from the body it read: the upstream did nothing wrong
      if (this.node !== undefined) up.release(this.node, undefined, false);
      if (ex.res.headersSent) {
        ex.res.destroy(err);
        return;
      }
      if (rejected.plugin !== undefined && ex.plugins !== undefined) {
        ex.plugins.respondedBy = rejected.plugin;
        countPluginResponse(rejected.plugin, route.id, rejected.status);
      }
      this.deps.respond(ex, { status: rejected.status, headers: rejected.headers, body: rejected.body });
      return;
    }
    if (this.filterFailed) {
      // the gateway aborted a healthy upstream: not the node's failure
      if (this.node !== undefined) {
        const ms = performance.now() - this.attemptStart;
        ex.upstreamMs = ms;
        up.release(this.node, ms, false);
      }
      return;
    }
    const failure = classifyUpstreamError(err);
    // Failures the client caused (gone, body too large, stalled upload), or the gateway
    // (a request it could not write), say nothing about the node: they count neither
    // toward passive health nor as a balancer penalty.
    const clientFault = ex.clientGone || ex.bodyTooLarge || this.clientStalled || failure.code === 'GH_ERR_INTERNAL';
    if (this.node !== undefined) {
      const ms = performance.now() - this.attemptStart;
      ex.upstreamMs = ms;
      if (clientFault) {
        up.release(this.node, undefined, false);
      } else {
        up.release(this.node, ms, true);
        up.report(this.node, { error: failure.kind });
      }
    }
    if (ex.clientGone) return;
    if (ex.bodyTooLarge) {
      this.deps.fail(ex, 'GH_ERR_CLIENT_BODY_TOO_LARGE', true);
      return;
    }
    if (ex.res.headersSent) {
      ex.res.destroy(err);
      return;
    }
    if (this.clientStalled) {
      this.deps.fail(ex, 'GH_ERR_CLIENT_TIMEOUT', true);
      return;
    }
    if (failureMayRetry(failure, ex.upstreamMethod ?? ex.req.method) && !this.streamedBody && withinRetryBudget(this.attempts, up, this.firstStart)) {
      this.attempts++;
      (this.tried ??= new Set()).add(this.node.id);
      this.abortUpstream = undefined;
      this.start();
      return;
    }
    this.deps.fail(ex, failure.code);
  }
}

/** A plugin's statusRetry that throws lets the response through rather than breaking the exchange. */
function retriesOn(retry: (status: number) => boolean, status: number): boolean {
  try {
    return retry(status);
  } catch {
    return false;
  }
}

const NO_BYTES = Buffer.alloc(0);

/**
 * The request body through its filters, as the upstream client pulls it: each chunk through every
 * filter in order (a filter holding data returns an empty Buffer and later ones get
 * nothing for that chunk), then each filter's end-of-stream call fed with what the
 * earlier ones released at theirs. A filter's RequestBodyRejected is handed to
 * `rejected` before it ends the upload.
 */
export async function* filteredBody(source: Buffer | AsyncIterable<Buffer> | null, filters: readonly RequestBodyFilter[],
  rejected: (r: RequestBodyRejected) => void): AsyncGenerator<Buffer> {
  try {
    if (source !== null) {
      for await (const chunk of Buffer.isBuffer(source) ? [source] : source) {
        let c: Buffer = chunk;
        for (const f of filters) {
          c = await f(c, false);
          if (c.length === 0) break;
        }
        if (c.length > 0) yield c;
      }
    }
    let tail: Buffer = NO_BYTES;
    for (const f of filters) tail = await f(tail, true);
    if (tail.length > 0) yield tail;
  } catch (err) {
    if (err instanceof RequestBodyRejected) rejected(err);
    throw err;
  }
}
