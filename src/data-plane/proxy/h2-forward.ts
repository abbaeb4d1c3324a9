import { Readable } from 'node:stream';
import { constants, type ClientHttp2Stream, type IncomingHttpHeaders, type IncomingHttpStatusHeader, type OutgoingHttpHeaders } from 'node:http2';
import type { BalancerNode } from '../../contracts/balancer.js';
import type { Exchange } from '../exchange.js';
import type { CompiledRoute } from '../snapshot.js';
import type { ForwardDeps } from './forward.js';
import { filteredBody, hostHeader } from './forward.js';
import { upstreamRequestHeaders } from './headers.js';
import { classifyUpstreamError } from './upstream-errors.js';
import { FilteredResponse } from '../filtered-response.js';
import type { ResponseFailure } from '../../plugin-runtime/response-failure.js';
import { encodeGrpcMessage, GRPC_STATUS, isGrpcRequest, parseGrpcTimeout } from '../grpc/grpc-status.js';

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM } = constants;

/** Fields of the HTTP/1.1 framing that HTTP/2 forbids (RFC 9113 §8.2.2); `te` is re-added as `trailers`. */
const NOT_IN_H2 = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te']);

function readTimeout(): Error {
  return Object.assign(new Error('upstream read timed out'), { code: 'UND_ERR_BODY_TIMEOUT' });
}

/** The upstream's head or trailers without pseudo-headers, flat as writeHead takes them. */
function flatFields(h: IncomingHttpHeaders, skip?: string): string[] {
  const out: string[] = [];
  for (const name in h) {
    if (name.charCodeAt(0) === 58 /* : */ || name === skip) continue;
    const v = h[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const one of v) out.push(name, one);
    else out.push(name, String(v));
  }
  return out;
}

/**
 * One request over HTTP/2 to a grpc/grpcs upstream and its response back, trailers
 * included: the request body streams in (pipe backpressure: the client's stream pauses
 * while the upstream's window is shut), the response streams out (the upstream stream
 * pauses while the client's is full). Another node is tried only when the session could
 * not be opened (nothing was sent). `grpc-timeout` bounds the call: past it the upstream
 * stream is cancelled and the client gets grpc-status 4 (DEADLINE_EXCEEDED).
 */
export class H2Forwarder {
  private node!: BalancerNode;
  private tried: Set<string> | undefined;
  private attempts = 0;
  private readonly firstStart = performance.now();
  private attemptStart = 0;
  private stream: ClientHttp2Stream | undefined;
  private filtered: FilteredResponse | undefined;
  private deadline: NodeJS.Timeout | undefined;
  /** The client speaks gRPC (not gRPC-Web): the upstream's trailers go to it as HTTP/2 trailers. */
  private passTrailers = false;
  /** The attempt is over (answered, failed or abandoned): later stream events are ignored. */
  private settled = false;

  constructor(private readonly ex: Exchange, private readonly route: CompiledRoute, private readonly deps: ForwardDeps) {
    ex.res.onClose(this.onClientClose);
  }

  private readonly onClientClose = (): void => {
    this.deps.onClosed();
    clearTimeout(this.deadline);
    if (!this.ex.res.writableFinished) {
      this.ex.clientGone = true;
      this.cancel();
    }
  };

  start(): void {
    const ms = parseGrpcTimeout(this.ex.req.headers['grpc-timeout'] as string | undefined);
    if (ms !== undefined) this.deadline = setTimeout(this.deadlineExceeded, Math.max(0, this.ex.startedAt + ms - performance.now()));
    this.attempt();
  }

  private attempt(): void {
    const { ex, route } = this;
    const up = route.upstream!;
    const node = up.pick({ hashKey: route.hashKey?.(ex.vars), tried: this.tried });
    if (node === undefined) {
      this.finishWith('GH_ERR_UPSTREAM_NO_HEALTHY_NODE');
      return;
    }
    this.node = node;
    ex.upstreamNode = node;
    up.acquire(node);
    this.attemptStart = performance.now();
    const s = this.deps.pools.h2.get(node, route.pool!);
    s.ready.then(() => {
      if (ex.clientGone || this.settled) {
        up.release(node, undefined, false);
        return;
      }
      let stream: ClientHttp2Stream;
      try {
        stream = s.session.request(this.requestHeaders(node), { endStream: this.noBody() });
      } catch (err) {
        // the session closed between the pick and now (GOAWAY, idle close): nothing was sent
        this.connectFailed(s.failure ?? err as Error);
        return;
      }
      this.send(stream, () => s.failure);
    }, (err: Error) => this.connectFailed(err));
  }

  private noBody(): boolean {
    return this.ex.bufferedBody === undefined ? this.ex.req.body === null && this.ex.requestBodyFilters === undefined : false;
  }

  private requestHeaders(node: BalancerNode): OutgoingHttpHeaders {
    const { ex, route } = this;
    const host = ex.upstreamHost ?? hostHeader(route, node, ex.req.headers.host);
    ex.upstreamHostSent = host;
    const v = ex.vars.facts;
    const flat = upstreamRequestHeaders(ex.req, {
      host, remoteAddr: v.remoteAddr, proto: v.scheme, clientHost: ex.req.headers.host ?? v.host, serverPort: v.serverPort,
    }, ex.requestHeaderEdits);
    const out: OutgoingHttpHeaders = {
      ':method': ex.upstreamMethod ?? ex.req.method, ':path': ex.upstreamUri,
      ':scheme': route.pool!.scheme === 'grpcs' ? 'https' : 'http', ':authority': host, te: 'trailers',
    };
    for (let i = 0; i < flat.length; i += 2) {
      const name = flat[i]!.toLowerCase();
      if (NOT_IN_H2.has(name) || (name === 'content-length' && ex.requestBodyFilters !== undefined)) continue;
      const prev = out[name];
      out[name] = prev === undefined ? flat[i + 1]! : Array.isArray(prev) ? [...prev, flat[i + 1]!] : [String(prev), flat[i + 1]!];
    }
    if (ex.bufferedBody !== undefined) out['content-length'] = String(ex.bufferedBody.length);
    return out;
  }

  private send(stream: ClientHttp2Stream, sessionFailure: () => Error | undefined): void {
    const { ex, route } = this;
    this.stream = stream;
    stream.setTimeout(route.readTimeoutMs, () => this.failed(readTimeout()));
    const body = ex.bufferedBody ?? ex.req.body;
    if (ex.requestBodyFilters !== undefined) Readable.from(filteredBody(body, ex.requestBodyFilters, () => undefined)).pipe(stream);
    else if (Buffer.isBuffer(body)) stream.end(body);
    else if (body !== null) body.pipe(stream);
    stream.on('response', (headers, flags) => this.head(headers, flags));
    stream.on('data', (chunk: Buffer) => this.data(chunk));
    stream.on('trailers', (t: IncomingHttpHeaders) => this.trailers(t));
    stream.on('end', () => this.complete());
    stream.on('error', (err: Error) => this.failed(sessionFailure() ?? err));
    stream.on('close', () => {
      if (!this.settled) this.failed(sessionFailure() ?? Object.assign(new Error('upstream stream reset'), { code: 'ECONNRESET' }));
    });
  }

  private head(headers: IncomingHttpHeaders & IncomingHttpStatusHeader, flags: number): void {
    const { ex } = this;
    const status = Number(headers[':status']);
    this.route.upstream!.report(this.node, { status });
    ex.upstreamStatus = status;
    ex.upstreamHeaderMs = performance.now() - this.attemptStart;
    ex.upstreamBodyBytes = 0;
    const flat = flatFields(headers);
    ex.upstreamHeaders = flat;
    // a trailers-only response carries its grpc-status in the head (END_STREAM on it)
    if (headers['grpc-status'] !== undefined) {
      ex.grpcStatus = String(headers['grpc-status']);
      ex.grpcMessage = headers['grpc-message'] as string | undefined;
    }
    if (ex.res.headersSent) return;
    flat.push('server', this.deps.serverHeader);
    // HTTP trailers only for a gRPC client: a gRPC-Web one gets them in the body (the grpc-web plugin)
    this.passTrailers = isGrpcRequest(ex.req);
    if (this.passTrailers) ex.res.expectTrailers?.();
    const run = ex.plugins;
    const stream = this.stream!;
    ex.res.onDrain(() => {
      if (this.filtered !== undefined) this.filtered.drained();
      else stream.resume();
    });
    // the head goes at once: a gRPC stream's metadata may come long before its first message
    const streaming = (flags & NGHTTP2_FLAG_END_STREAM) === 0;
    if (run === undefined) {
      ex.res.writeHead(status, flat, undefined, true);
      if (streaming) ex.res.flushHeaders?.();
      return;
    }
    this.filtered = new FilteredResponse(ex, run, () => stream.resume(), this.failFromFilter);
    if (!this.filtered.head(status, undefined, flat)) stream.pause();
    else if (streaming) ex.res.flushHeaders?.();
  }

  private data(chunk: Buffer): void {
    if (this.settled) return;
    this.ex.upstreamBodyBytes! += chunk.length;
    const more = this.filtered !== undefined ? this.filtered.data(chunk) : this.ex.res.write(chunk);
    if (!more) this.stream!.pause();
  }

  private trailers(t: IncomingHttpHeaders): void {
    const status = t['grpc-status'];
    if (status !== undefined) {
      this.ex.grpcStatus = String(status);
      this.ex.grpcMessage = t['grpc-message'] as string | undefined;
    }
    if (!this.passTrailers) return;
    const fields: Record<string, string | string[]> = {};
    const flat = flatFields(t);
    for (let i = 0; i < flat.length; i += 2) {
      const prev = fields[flat[i]!];
      fields[flat[i]!] = prev === undefined ? flat[i + 1]! : [...(Array.isArray(prev) ? prev : [prev]), flat[i + 1]!];
    }
    this.ex.res.setTrailers?.(fields);
  }

  private complete(): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.deadline);
    const ms = performance.now() - this.attemptStart;
    this.ex.upstreamMs = ms;
    this.route.upstream!.release(this.node, ms, false);
    if (this.filtered !== undefined) this.filtered.end();
    else this.ex.res.end();
  }

  /** The session to the node could not be opened: nothing was sent, so another node may be tried. */
  private connectFailed(err: Error): void {
    const { ex, route } = this;
    const up = route.upstream!;
    const failure = classifyUpstreamError(err);
    up.release(this.node, performance.now() - this.attemptStart, true);
    up.report(this.node, { error: failure.kind });
    if (ex.clientGone || this.settled) return;
    const inBudget = up.retryTimeoutMs === 0 || performance.now() - this.firstStart < up.retryTimeoutMs;
    if (this.attempts < up.retries && inBudget) {
      this.attempts++;
      (this.tried ??= new Set()).add(this.node.id);
      this.attempt();
      return;
    }
    this.finishWith(failure.code);
  }

  /** The stream failed after it was opened: no retry (the upstream may have acted on it). */
  private failed(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.deadline);
    const { ex, route } = this;
    const up = route.upstream!;
    const ms = performance.now() - this.attemptStart;
    ex.upstreamMs = ms;
    this.cancel();
    if (ex.clientGone) {
      up.release(this.node, undefined, false);
      return;
    }
    const failure = classifyUpstreamError(err);
    up.release(this.node, ms, true);
    up.report(this.node, { error: failure.kind });
    if (ex.res.headersSent) ex.res.destroy(err);
    else this.deps.fail(ex, failure.code);
  }

  private readonly deadlineExceeded = (): void => {
    const { ex } = this;
    if (this.settled || ex.clientGone) return;
    this.settled = true;
    this.cancel();
    if (this.stream !== undefined) this.route.upstream!.release(this.node, performance.now() - this.attemptStart, false);
    if (!ex.res.headersSent) {
      this.deps.fail(ex, 'GH_ERR_UPSTREAM_DEADLINE');
      return;
    }
    // the response is under way: its trailers say what happened
    ex.grpcStatus = String(GRPC_STATUS.DEADLINE_EXCEEDED);
    ex.res.setTrailers?.({ 'grpc-status': ex.grpcStatus, 'grpc-message': encodeGrpcMessage('Deadline Exceeded') });
    ex.res.end();
  };

  /** A body_filter gave the response up: its error answers instead (or the stream is reset once bytes went out). */
  private readonly failFromFilter = (err: ResponseFailure): void => {
    this.settled = true;
    this.cancel();
    this.route.upstream!.release(this.node, performance.now() - this.attemptStart, false);
    if (this.ex.res.headersSent) this.ex.res.destroy(err);
    else this.deps.fail(this.ex, err.code);
  };

  private finishWith(code: Parameters<ForwardDeps['fail']>[1]): void {
    this.settled = true;
    clearTimeout(this.deadline);
    this.deps.fail(this.ex, code);
  }

  private cancel(): void {
    const stream = this.stream;
    if (stream !== undefined && !stream.closed) stream.close(NGHTTP2_CANCEL);
  }
}
