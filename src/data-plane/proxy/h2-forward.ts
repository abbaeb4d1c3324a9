import { Readable } from 'node:stream';
import { constants, type ClientHttp2Stream, type IncomingHttpHeaders, type IncomingHttpStatusHeader, type OutgoingHttpHeaders } from 'node:http2';
import type { BalancerNode } from '../../contracts/balancer.js';
import type { Exchange } from '../exchange.js';
import type { CompiledRoute } from '../snapshot.js';
import type { ForwardDeps } from './forward.js';
import { filteredBody, hostHeader } from './forward.js';
import { upstreamRequestHeaders } from './headers.js';
import { classifyUpstreamError, failureMayRetry, withinRetryBudget } from './upstream-errors.js';
import { recordAttempt } from './attempt-record.js';
import { upstreamFailure } from '../http1-client/errors.js';
import { FilteredResponse } from '../filtered-response.js';
import type { ResponseFailure } from '../../plugin-runtime/response-failure.js';
import { encodeGrpcMessage, GRPC_STATUS, isGrpcRequest, parseGrpcTimeout } from '../grpc/grpc-status.js';

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM, NGHTTP2_REFUSED_STREAM } = constants;

/** Fields of the HTTP/1.1 framing that HTTP/2 forbids (RFC 9113 §8.2.2); `te` is re-added as `trailers`. */
const NOT_IN_H2 = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te']);

function readTimeout(): Error {
  return upstreamFailure('GH_UPSTREAM_READ_TIMEOUT', 'upstream read timed out');
}

/** The stream ended early; `refused` (REFUSED_STREAM, or above a GOAWAY's last stream id): the upstream did not process it (RFC 9113 §8.7). */
function streamReset(stream: ClientHttp2Stream): Error {
  return Object.assign(new Error('upstream stream reset'), { code: 'ECONNRESET', refused: stream.rstCode === NGHTTP2_REFUSED_STREAM });
}

/**
 * `scheme: http2`'s timers, on the stream's inactivity (no frame either way): `timeout.send`
 * while the request body uploads, `timeout.read` once it is sent. An upload timing out with
 * the client's body flowing and nothing buffered is the client's stall (408, the node not
 * blamed, as on the HTTP/1.1 leg); otherwise the upstream stopped taking it (504).
 */
function watchTimeouts(stream: ClientHttp2Stream, route: CompiledRoute, body: Buffer | Readable | null, failed: (err: Error) => void): void {
  const upload = body !== null && !Buffer.isBuffer(body) && !body.readableEnded ? body : undefined;
  let sent = upload === undefined;
  stream.setTimeout(sent ? route.readTimeoutMs : route.sendTimeoutMs, () => {
    if (sent) failed(readTimeout());
    else if (upload!.readableFlowing === true && upload!.readableLength === 0) failed(clientStalled());
    else failed(Object.assign(new Error('upstream send timed out'), { code: 'GH_SEND_TIMEOUT' }));
  });
  if (!sent) stream.once('finish', () => { sent = true; stream.setTimeout(route.readTimeoutMs); });
}

function clientStalled(): Error {
  return Object.assign(new Error('client stopped sending the request body'), { code: 'GH_CLIENT_BODY_TIMEOUT' });
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
 * One request over HTTP/2 to a grpc/grpcs/http2 upstream and its response back, trailers
 * included: the request body streams in (pipe backpressure: the client's stream pauses
 * while the upstream's window is shut), the response streams out (the upstream stream
 * pauses while the client's is full).
 * gRPC (grpc/grpcs): another node is tried only when the session could not be opened
 * (nothing was sent); `grpc-timeout` bounds the call: past it the upstream stream is
 * cancelled and the client gets grpc-status 4 (DEADLINE_EXCEEDED).
 * Plain HTTP/2 (`http2`): HTTP semantics, as the HTTP/1.1 leg: a send timeout while the
 * body uploads, and a stream that failed before its response head goes again when the
 * body was not streamed and the upstream refused it, or the method is idempotent.
 */
export class H2Forwarder {
  private node!: BalancerNode;
  private tried: Set<string> | undefined;
  private attempts = 0;
  private readonly firstStart = performance.now();
  private attemptStart = 0;
  /** The status the current attempt's node answered with (for the trace record). */
  private attemptStatus: number | undefined;
  private stream: ClientHttp2Stream | undefined;
  private filtered: FilteredResponse | undefined;
  private deadline: NodeJS.Timeout | undefined;
  /** The client speaks gRPC (not gRPC-Web): the upstream's trailers go to it as HTTP/2 trailers. */
  private passTrailers = false;
  /** The attempt is over (answered, failed or abandoned): later stream events are ignored. */
  private settled = false;
  /** grpc/grpcs: gRPC's deadline, status and retry rules; false for `scheme: http2`. */
  private readonly grpc: boolean;
  /** The attempt's response head arrived: a failure now is answered, not retried. */
  private responded = false;
  /** A refused stream went again once already (beyond `retries`). */
  private refusedOnce = false;

  constructor(private readonly ex: Exchange, private readonly route: CompiledRoute, private readonly deps: ForwardDeps) {
    this.grpc = route.pool!.scheme !== 'http2';
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
    const ms = this.grpc ? parseGrpcTimeout(this.ex.req.headers['grpc-timeout'] as string | undefined) : undefined;
    if (ms !== undefined) this.deadline = setTimeout(this.deadlineExceeded, Math.max(0, this.ex.startedAt + ms - performance.now()));
    this.attempt();
  }

  private attempt(): void {
    const { ex, route } = this;
    const up = route.upstream!;
    const node = up.pick({ hashKey: route.hashKey?.(ex.vars), tried: this.tried });
    if (node === undefined) {
      this.finishWith(up.noNodeError);
      return;
    }
    this.node = node;
    ex.upstreamNode = node;
    up.acquire(node);
    this.attemptStart = performance.now();
    this.attemptStatus = undefined;
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
      ':scheme': route.pool!.scheme === 'grpcs' ? 'https' : 'http', ':authority': host,
    };
    // gRPC requires `te: trailers`; a plain request says it only for an HTTP/2 client that said it (trailers reach no one else)
    if (this.grpc || (ex.req.httpVersion === '2.0' && /\btrailers\b/i.test(String(ex.req.headers.te ?? '')))) out.te = 'trailers';
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
    this.responded = false;
    const body = ex.bufferedBody ?? ex.req.body;
    if (this.grpc) stream.setTimeout(route.readTimeoutMs, () => this.failed(readTimeout()));
    else watchTimeouts(stream, route, body, (err) => this.failed(err));
    if (ex.requestBodyFilters !== undefined) Readable.from(filteredBody(body, ex.requestBodyFilters, () => undefined)).pipe(stream);
    else if (Buffer.isBuffer(body)) stream.end(body);
    else if (body !== null) body.pipe(stream);
    // a retried attempt's stream may still report: only the current one counts
    const current = (): boolean => this.stream === stream;
    stream.on('response', (headers, flags) => { if (current()) this.head(headers, flags); });
    stream.on('data', (chunk: Buffer) => { if (current()) this.data(chunk); });
    stream.on('trailers', (t: IncomingHttpHeaders) => { if (current()) this.trailers(t); });
    stream.on('end', () => { if (current()) this.complete(); });
    stream.on('error', (err: Error) => { if (current()) this.failed(sessionFailure() ?? (stream.rstCode === NGHTTP2_REFUSED_STREAM ? streamReset(stream) : err)); });
    stream.on('close', () => {
      if (!this.settled && current()) this.failed(sessionFailure() ?? streamReset(stream));
    });
  }

  private head(headers: IncomingHttpHeaders & IncomingHttpStatusHeader, flags: number): void {
    const { ex } = this;
    const status = Number(headers[':status']);
    this.responded = true;
    this.route.upstream!.report(this.node, { status });
    ex.upstreamStatus = status;
    this.attemptStatus = status;
    ex.upstreamHeaderMs = performance.now() - this.attemptStart;
    ex.upstreamBodyBytes = 0;
    ex.upstreamHeaders = flatFields(headers);
    // a trailers-only response carries its grpc-status in the head (END_STREAM on it)
    if (this.grpc && headers['grpc-status'] !== undefined) {
      ex.grpcStatus = String(headers['grpc-status']);
      ex.grpcMessage = headers['grpc-message'] as string | undefined;
    }
    if (ex.res.headersSent) return;
    // the upstream's `server` gives way to the gateway's, as on the HTTP/1.1 leg
    const flat = flatFields(headers, 'server');
    flat.push('server', this.deps.serverHeader);
    // gRPC: HTTP trailers only for a gRPC client (a gRPC-Web one gets them in the body, the grpc-web plugin);
    // plain HTTP/2: for every HTTP/2 client (HTTP/1.1 ones lose them, as behind nginx)
    this.passTrailers = this.grpc ? isGrpcRequest(ex.req) : ex.req.httpVersion === '2.0';
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
    const status = this.grpc ? t['grpc-status'] : undefined;
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
    recordAttempt(this.ex.trace, this.node, this.attemptStart, this.attemptStatus);
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
    recordAttempt(ex.trace, this.node, this.attemptStart, undefined, err);
    if (ex.clientGone || this.settled) return;
    if (this.inRetryBudget()) this.again();
    else this.finishWith(failure.code);
  }

  /**
   * The stream failed after it was opened. gRPC: answered, never retried (the upstream may
   * have acted on it). Plain HTTP/2: retried by forward.ts's rules (resendable, inRetryBudget).
   */
  private failed(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.deadline);
    const { ex, route } = this;
    const up = route.upstream!;
    const ms = performance.now() - this.attemptStart;
    ex.upstreamMs = ms;
    this.cancel();
    recordAttempt(ex.trace, this.node, this.attemptStart, this.attemptStatus, err);
    if (ex.clientGone) {
      up.release(this.node, undefined, false);
      return;
    }
    if ((err as { code?: string }).code === 'GH_CLIENT_BODY_TIMEOUT') {
      up.release(this.node, undefined, false);
      this.deps.fail(ex, 'GH_ERR_CLIENT_TIMEOUT', true);
      return;
    }
    const refusedStream = (err as { refused?: boolean }).refused === true;
    if (refusedStream && !this.refusedOnce && this.resendable()) {
      // refused = not processed (RFC 9113 §8.7): a GOAWAY racing a request is routine, not the
      // node's failure, and the request goes once more (on a new session) whatever `retries` says
      this.refusedOnce = true;
      up.release(this.node, undefined, false);
      this.again(false);
      return;
    }
    const failure = classifyUpstreamError(err);
    up.release(this.node, ms, true);
    up.report(this.node, { error: failure.kind });
    if (ex.res.headersSent) ex.res.destroy(err);
    else if ((refusedStream || failureMayRetry(failure, ex.upstreamMethod ?? ex.req.method))
      && this.resendable() && this.inRetryBudget()) this.again(true);
    else this.deps.fail(ex, failure.code);
  }

  /**
   * Plain HTTP/2 only, as forward.ts: the attempt got no response head, and its body was
   * held in memory or absent (a body streamed from the client went once).
   */
  private resendable(): boolean {
    const { ex } = this;
    if (this.grpc || this.responded || this.filtered !== undefined || ex.res.headersSent) return false;
    return ex.requestBodyFilters === undefined && (ex.bufferedBody !== undefined || ex.req.body === null);
  }

  private inRetryBudget(): boolean {
    return withinRetryBudget(this.attempts, this.route.upstream!, this.firstStart);
  }

  /** Another attempt; `elsewhere`: on a node not tried yet (the failed one counts one of `retries`). */
  private again(elsewhere = true): void {
    if (elsewhere) {
      this.attempts++;
      (this.tried ??= new Set()).add(this.node.id);
    }
    this.settled = false;
    this.stream = undefined;
    this.attempt();
  }

  private readonly deadlineExceeded = (): void => {
    const { ex } = this;
    if (this.settled || ex.clientGone) return;
    this.settled = true;
    this.cancel();
    if (this.stream !== undefined) {
      this.route.upstream!.release(this.node, performance.now() - this.attemptStart, false);
      recordAttempt(ex.trace, this.node, this.attemptStart, this.attemptStatus, { code: 'GH_ERR_UPSTREAM_DEADLINE' });
    }
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
    // the node answered: its attempt is what it sent, whatever the gateway made of it
    recordAttempt(this.ex.trace, this.node, this.attemptStart, this.attemptStatus);
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
