import type { Dispatcher } from 'undici';
import type { BalancerNode } from '../../contracts/balancer.js';
import type { Exchange } from '../exchange.js';
import type { CompiledRoute } from '../snapshot.js';
import type { PoolRegistry } from './pools.js';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js';
import { classifyUpstreamError } from './upstream-errors.js';
import type { ErrorCode } from '../../core/errors.js';
import { ResponseState } from '../../plugin-runtime/plugin-run.js';
import { hasBodyFilters, runBodyFilter, runHeaderFilter } from '../../plugin-runtime/runner.js';
import { ResponseFailure } from '../../plugin-runtime/response-failure.js';

export interface ForwardDeps {
  pools: PoolRegistry;
  serverHeader: string;
  /** Called once when the client response is closed (finished or aborted). */
  onClosed(): void;
  /** Answers the request with a catalogued error (through the plugins' response phases when there are any). */
  fail(ex: Exchange, code: ErrorCode, close?: boolean): void;
}

const EMPTY = Buffer.alloc(0);

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

function hostHeader(route: CompiledRoute, node: BalancerNode, clientHost: string | undefined): string {
  if (route.passHost === 'rewrite' && route.upstreamHost !== undefined) return route.upstreamHost;
  if (route.passHost === 'node') {
    const host = node.host.includes(':') ? `[${node.host}]` : node.host;
    const defaultPort = route.pool?.scheme === 'https' ? 443 : 80;
    return node.port === defaultPort ? host : `${host}:${node.port}`;
  }
  return clientHost ?? node.host;
}

/**
 * Streams one request to an upstream node and the response back, trying other nodes
 * on failures that are safe to retry. Implements undici's raw dispatch handler so the
 * response goes from undici's parser to the client socket with no stream in between.
 */
export class Forwarder implements Dispatcher.DispatchHandler {
  private node!: BalancerNode;
  private tried: Set<string> | undefined;
  private attempts = 0;
  private readonly firstStart: number;
  private attemptStart = 0;
  private abortUpstream: ((err?: Error) => void) | undefined;
  private resume: (() => void) | undefined;
  private headers: string[] | undefined;
  private readonly withBody: boolean;
  private filterBody = false;
  /** A body_filter threw ResponseFailure; the upstream was aborted by us. */
  private filterFailed = false;

  constructor(private readonly ex: Exchange, private readonly route: CompiledRoute, private readonly deps: ForwardDeps) {
    this.firstStart = performance.now();
    this.withBody = ex.req.body !== null;
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
    this.resume?.();
  };

  start(): void {
    const { ex, route } = this;
    const up = route.upstream!;
    const node = up.pick({ hashKey: route.hashKey?.(ex.vars), tried: this.tried });
    if (node === undefined) {
      this.deps.fail(ex, 'GH_ERR_UPSTREAM_NO_HEALTHY_NODE');
      return;
    }
    this.node = node;
    ex.upstreamNode = node;
    up.acquire(node);
    const host = ex.upstreamHost ?? hostHeader(route, node, ex.req.headers.host);
    if (this.headers === undefined) {
      const v = ex.vars.facts;
      this.headers = upstreamRequestHeaders(ex.req, {
        host, remoteAddr: v.remoteAddr, proto: v.scheme, clientHost: ex.req.headers.host ?? v.host, serverPort: v.serverPort,
      }, ex.requestHeaderEdits);
    } else {
      this.headers[1] = host;
    }
    this.attemptStart = performance.now();
    if (this.withBody) this.watchUpload();
    const pool = this.deps.pools.get(node, route.pool!);
    pool.dispatch({
      path: ex.upstreamUri,
      method: (ex.upstreamMethod ?? ex.req.method) as Dispatcher.HttpMethod,
      headers: this.headers,
      body: ex.req.body,
      headersTimeout: route.readTimeoutMs,
      bodyTimeout: route.readTimeoutMs,
    }, this);
  }

  /**
   * nginx's send timeout: while the body is being uploaded, a socket that sees no
   * traffic for `timeout.send` means the upstream stopped taking data (undici's
   * backpressure stops us reading from the client). Disarmed once the body is read.
   */
  private watchUpload(): void {
    const { req } = this.ex;
    const body = req.body;
    if (body === null || body.readableEnded) return;
    const socket = req.socket;
    const onTimeout = (): void => {
      const err = Object.assign(new Error('upstream send timed out'), { code: 'GH_SEND_TIMEOUT' });
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

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    const { res } = this.ex;
    this.route.upstream!.report(this.node, { status: statusCode });
    this.ex.upstreamStatus = statusCode;
    if (res.headersSent) return true; // a retried attempt cannot answer twice; unreachable in practice
    const run = this.ex.plugins;
    if (run === undefined) {
      res.writeHead(statusCode, statusText, clientResponseHeaders(rawHeaders, this.deps.serverHeader), true);
    } else {
      run.response = ResponseState.fromFlat(statusCode, clientResponseHeaders(rawHeaders, this.deps.serverHeader));
      runHeaderFilter(run);
      this.filterBody = hasBodyFilters(run);
      // A body filter may change the length: let the HTTP layer frame the body instead.
      if (this.filterBody) run.response.setHeader('content-length', undefined);
      const status = run.response.status;
      res.writeHead(status, status === statusCode ? statusText : undefined, run.response.flatten(), true);
    }
    this.resume = resume;
    res.onDrain(this.onDrain);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.filterBody) {
      let out: Buffer;
      try {
        out = runBodyFilter(this.ex.plugins!, chunk, false);
      } catch (err) {
        if (!(err instanceof ResponseFailure)) throw err;
        this.failFromFilter(err);
        this.abortUpstream?.(err);
        return false;
      }
      return out.length === 0 ? true : this.ex.res.write(out);
    }
    return this.ex.res.write(chunk);
  }

  onComplete(): void {
    const ms = performance.now() - this.attemptStart;
    this.ex.upstreamMs = ms;
    this.route.upstream!.release(this.node, ms, false);
    if (this.filterBody) {
      let last: Buffer;
      try {
        last = runBodyFilter(this.ex.plugins!, EMPTY, true);
      } catch (err) {
        if (!(err instanceof ResponseFailure)) throw err;
        this.failFromFilter(err);
        return;
      }
      if (last.length > 0) this.ex.res.write(last);
    }
    this.ex.res.end();
  }

  /** A body_filter gave the response up: its error answers instead (or the connection is cut once bytes went out). */
  private failFromFilter(err: ResponseFailure): void {
    this.filterFailed = true;
    if (this.ex.res.headersSent) this.ex.res.destroy(err);
    else this.deps.fail(this.ex, err.code);
  }

  onError(err: Error): void {
    const { ex, route } = this;
    const up = route.upstream!;
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
    if (this.node !== undefined) {
      const ms = performance.now() - this.attemptStart;
      ex.upstreamMs = ms;
      up.release(this.node, ms, true);
      if (!ex.clientGone && !ex.bodyTooLarge) up.report(this.node, { error: failure.kind });
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
    const safe = failure.kind === 'connect' || (failure.retryable && IDEMPOTENT.has(ex.req.method ?? ''));
    const inBudget = up.retryTimeoutMs === 0 || performance.now() - this.firstStart < up.retryTimeoutMs;
    if (safe && !this.withBody && this.attempts < up.retries && inBudget) {
      this.attempts++;
      (this.tried ??= new Set()).add(this.node.id);
      this.abortUpstream = undefined;
      this.start();
      return;
    }
    this.deps.fail(ex, failure.code);
  }
}
