import type { Socket } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import { ChunkedDecoder } from '../http1/chunked-decoder.js';
import { hasRoom } from '../http1/socket-room.js';
import { CHUNKED, parseResponseHead, UNTIL_CLOSE } from '../http1/response-head.js';
import { upstreamFailure } from './errors.js';
import { ConnectionReads } from './read-buffers.js';
import { declaredLength, requestHead, type BodyFraming } from './request-head.js';

// One connection to an upstream node, carrying one exchange at a time (no pipelining).
// The response is parsed from the socket's own reads and handed on as subarrays of them:
// no stream objects between the upstream socket and the caller, and no copies.

/** What the caller (the proxy's Forwarder) is told; the same shape as undici's raw dispatch handler. */
export interface ResponseHandler {
  /** Called once per attempt, before anything is sent: `abort` gives the exchange up (onError follows). */
  onConnect(abort: (err?: Error) => void): void;
  /** The response head (1xx interim answers skipped). Returning false pauses the body until `resume`. */
  onHeaders(status: number, headers: string[], resume: () => void, statusText: string): boolean;
  /** A piece of the (de-chunked) body. Returning false pauses reading until `resume`. */
  onData(chunk: Buffer): boolean;
  /**
   * Asked right after onData, when the piece lies in a buffer the client would read into
   * again: true when nothing references it any more (written to the kernel whole, or dropped).
   */
  pieceReleased?(): boolean;
  onComplete(): void;
  onError(err: Error): void;
  /** The upstream accepted an Upgrade: the socket is the caller's from now on, paused, with any bytes after the 101 unread in it. */
  onUpgrade?(status: number, headers: string[], socket: Duplex): void;
}

export interface UpstreamRequest {
  method: string;
  path: string;
  /** Flat [name, value, …], Host first; no hop-by-hop fields, no Transfer-Encoding. */
  headers: string[];
  /**
   * A Buffer is sent with its own Content-Length (and can be sent again on a fresh
   * connection). A stream keeps the Content-Length in `headers`, or goes chunked.
   */
  body: Buffer | Readable | AsyncIterable<Buffer> | null;
  /** Longest silence from the upstream while the exchange runs (0: none). */
  readTimeoutMs: number;
  /** Close the connection after this exchange. */
  reset?: boolean;
  /** An Upgrade handshake for this protocol ('websocket'): a 101 hands the socket over; any other answer is read as usual. */
  upgrade?: string;
}

/** What a connection needs from the pool that owns it. */
export interface ConnectionOwner {
  readonly maxRequests: number;
  readonly idleTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /** The exchange ended cleanly: keep the connection for another one, or close it. */
  release(c: UpstreamConnection, reusable: boolean): void;
  /** The socket closed or was handed over: forget the connection. */
  forget(c: UpstreamConnection): void;
  /** A reused connection failed before any byte of the answer: send the request on a fresh one. */
  resend(req: UpstreamRequest, handler: ResponseHandler): void;
}

/** Longest response head accepted (nginx's proxy_buffer_size refuses far less). */
const MAX_RESPONSE_HEAD = 64 * 1024;
const EXPECTS_PAYLOAD = new Set(['POST', 'PUT', 'PATCH']);
const CRLF = '\r\n';
const LAST_CHUNK = '0\r\n\r\n';

const S_IDLE = 0;
const S_HEAD = 1;
const S_BODY = 2;

const M_LENGTH = 0;
const M_CHUNKED = 1;
const M_UNTIL_CLOSE = 2;

function isReadable(body: object): body is Readable {
  return typeof (body as Readable).pipe === 'function';
}

export class UpstreamConnection {
  /** Exchanges started on this connection, the current one included. */
  requests = 0;
  /** TLS: the server name it was opened with (an idle connection serves only requests for the same one). */
  serverName: string | undefined = undefined;
  private connected = false;
  private timeoutMs = -1;
  private state = S_IDLE;
  private handler: ResponseHandler | undefined;
  private request: UpstreamRequest | undefined;
  /** Bytes of an unfinished response head. */
  private partialHead: Buffer | undefined;
  private mode = M_LENGTH;
  private remaining = 0;
  private decoder: ChunkedDecoder | undefined;
  private reusable = false;
  /** The whole request has been handed to the socket. */
  private requestSent = false;
  /** A byte of the answer arrived in this exchange. */
  private answered = false;
  private paused = false;
  private upload: Readable | undefined;
  private uploadChunked = false;
  private uploadPaused = false;
  private drainWaiter: (() => void) | undefined;
  /** Reads into buffers of ours; undefined on a connection opened for an Upgrade, whose socket may be handed over. */
  private readonly reads: ConnectionReads | undefined;
  readonly socket: Socket;

  /** `open` connects, passing `onread` on (undefined: the socket's own reads, for an Upgrade). */
  constructor(private readonly owner: ConnectionOwner, open: (onread: ConnectionReads['onread'] | undefined) => Socket,
    connectEvent: 'connect' | 'secureConnect', forUpgrade: boolean) {
    this.reads = forUpgrade ? undefined : new ConnectionReads(this.onSocketData);
    const socket = this.socket = open(this.reads?.onread);
    socket.on(connectEvent, this.onConnected);
    // with onread, 'data' never fires; the listener keeps the socket flowing, so 'end' is emitted
    socket.on('data', this.onSocketData);
    socket.on('end', this.onSocketEnd);
    socket.on('error', this.onSocketError);
    socket.on('close', this.onSocketClose);
    socket.on('timeout', this.onSocketTimeout);
    socket.on('drain', this.onSocketDrain);
    this.setTimer(owner.connectTimeoutMs);
  }

  get busy(): boolean {
    return this.handler !== undefined;
  }

  run(req: UpstreamRequest, handler: ResponseHandler): void {
    this.requests++;
    this.handler = handler;
    this.request = req;
    this.state = S_HEAD;
    this.answered = false;
    this.requestSent = false;
    this.paused = false;
    handler.onConnect((err) => this.abort(handler, err));
    if (this.handler !== handler) return;
    if (this.connected) this.setTimer(req.readTimeoutMs);
    const body = req.body;
    let framing: BodyFraming;
    if (body === null) {
      // a client's own `Content-Length: 0` passes through; a POST without one gets it (as undici and nginx send)
      framing = EXPECTS_PAYLOAD.has(req.method) && declaredLength(req.headers) === -1 ? { kind: 'length', length: 0 } : { kind: 'none' };
    }
    else if (Buffer.isBuffer(body)) framing = { kind: 'length', length: body.length };
    else framing = declaredLength(req.headers) >= 0 ? { kind: 'declared' } : { kind: 'chunked' };
    const close = req.reset === true || this.requests >= this.owner.maxRequests;
    const head = requestHead({ method: req.method, path: req.path, headers: req.headers, framing, close, upgrade: req.upgrade });
    if (typeof head !== 'string') {
      this.fail(upstreamFailure('GH_UPSTREAM_INVALID_REQUEST', head.invalid));
      return;
    }
    const socket = this.socket;
    if (body === null) {
      socket.write(head, 'latin1');
      this.requestSent = true;
    } else if (Buffer.isBuffer(body)) {
      socket.cork();
      socket.write(head, 'latin1');
      if (body.length > 0) socket.write(body);
      socket.uncork();
      this.requestSent = true;
    } else {
      socket.write(head, 'latin1');
      this.uploadChunked = framing.kind === 'chunked';
      if (isReadable(body)) this.streamBody(body);
      else void this.pumpBody(body, handler);
    }
  }

  /** Closes an idle connection (pool sweep, shutdown) or gives up the exchange on a busy one. */
  close(): void {
    this.socket.destroy();
  }

  // ---- request body ------------------------------------------------------------------------

  private streamBody(body: Readable): void {
    this.upload = body;
    body.on('data', this.onBodyData);
    body.on('end', this.onBodyEnd);
    body.on('error', this.onBodyError);
    if (body.readableEnded) this.onBodyEnd();
  }

  private stopUpload(): void {
    const body = this.upload;
    if (body !== undefined) {
      this.upload = undefined;
      body.removeListener('data', this.onBodyData);
      body.removeListener('end', this.onBodyEnd);
      body.removeListener('error', this.onBodyError);
      body.pause();
    }
    this.uploadPaused = false;
    const waiter = this.drainWaiter;
    this.drainWaiter = undefined;
    waiter?.();
  }

  /** Writes one piece of a streamed body; false when the socket has no room (socket-room.ts). */
  private writeBodyChunk(chunk: Buffer): boolean {
    const socket = this.socket;
    if (!this.uploadChunked) {
      socket.write(chunk);
    } else if (chunk.length > 0) {
      socket.cork();
      socket.write(chunk.length.toString(16) + CRLF, 'latin1');
      socket.write(chunk);
      socket.write(CRLF, 'latin1');
      socket.uncork();
    }
    return hasRoom(socket);
  }

  private finishBody(): void {
    if (this.uploadChunked) this.socket.write(LAST_CHUNK, 'latin1');
    this.requestSent = true;
  }

  private readonly onBodyData = (chunk: Buffer): void => {
    if (!this.writeBodyChunk(chunk)) {
      this.uploadPaused = true;
      this.upload!.pause();
    }
  };

  private readonly onBodyEnd = (): void => {
    if (this.upload === undefined) return;
    this.stopUpload();
    this.finishBody();
  };

  private readonly onBodyError = (err: Error): void => {
    this.stopUpload();
    this.fail(err);
  };

  /** A body from an async iterable (request body filters): pulled as the socket drains. */
  private async pumpBody(body: AsyncIterable<Buffer>, handler: ResponseHandler): Promise<void> {
    try {
      for await (const chunk of body) {
        if (this.handler !== handler) return;
        if (!this.writeBodyChunk(chunk)) await new Promise<void>((resolve) => { this.drainWaiter = resolve; });
        if (this.handler !== handler) return;
      }
      if (this.handler === handler) this.finishBody();
    } catch (err) {
      if (this.handler === handler) this.fail(err as Error);
    }
  }

  private readonly onSocketDrain = (): void => {
    if (this.uploadPaused) {
      this.uploadPaused = false;
      this.upload?.resume();
    }
    const waiter = this.drainWaiter;
    this.drainWaiter = undefined;
    waiter?.();
  };

  // ---- response ----------------------------------------------------------------------------

  private readonly onSocketData = (chunk: Buffer): void => {
    if (this.handler === undefined) {
      // bytes on an idle connection: nothing asked for them, so nothing after them can be trusted
      this.socket.destroy();
      return;
    }
    this.answered = true;
    if (this.state === S_HEAD) {
      const rest = this.readHead(chunk);
      if (rest === undefined || rest.length === 0) return;
      chunk = rest;
    }
    this.readBody(chunk);
  };

  /** Parses head(s) from chunk; returns the bytes after the final head, undefined while incomplete or done. */
  private readHead(chunk: Buffer): Buffer | undefined {
    let buf = this.partialHead === undefined ? chunk : Buffer.concat([this.partialHead, chunk]);
    this.partialHead = undefined;
    const req = this.request!;
    for (;;) {
      const r = parseResponseHead(buf, MAX_RESPONSE_HEAD);
      if (r === undefined) {
        this.partialHead = this.reads === undefined ? buf : this.reads.keep(buf);
        return undefined;
      }
      if (!r.ok) {
        this.fail(upstreamFailure('GH_UPSTREAM_BAD_RESPONSE', `invalid response from upstream: ${r.reason}`));
        return undefined;
      }
      const h = r.head;
      buf = buf.subarray(r.consumed);
      if (h.status === 101 && req.upgrade !== undefined && h.upgrade) {
        this.handUpgrade(h.status, h.rawHeaders, buf);
        return undefined;
      }
      if (h.status === 101) {
        this.fail(upstreamFailure('GH_UPSTREAM_BAD_RESPONSE', req.upgrade === undefined
          ? 'upstream switched protocols unasked' : 'upstream answered 101 without Connection: upgrade'));
        return undefined;
      }
      if (h.status < 200) {
        // interim answers (100 Continue, 103 Early Hints) are not passed on: the gateway handled Expect itself
        if (buf.length === 0) return undefined;
        continue;
      }
      const bodyless = req.method === 'HEAD' || h.status === 204 || h.status === 304;
      if (bodyless) {
        this.mode = M_LENGTH;
        this.remaining = 0;
      } else if (h.bodyLength === CHUNKED) {
        this.mode = M_CHUNKED;
        this.decoder = new ChunkedDecoder();
      } else if (h.bodyLength === UNTIL_CLOSE) {
        this.mode = M_UNTIL_CLOSE;
      } else {
        this.mode = M_LENGTH;
        this.remaining = h.bodyLength;
      }
      // an upgrade the upstream refused is an ordinary answer (nginx passes it on); its connection is not kept
      this.reusable = h.keepAlive && req.reset !== true && req.upgrade === undefined && this.requests < this.owner.maxRequests;
      this.state = S_BODY;
      const handler = this.handler!;
      const go = handler.onHeaders(h.status, h.rawHeaders, this.resume, h.reason);
      if (this.handler !== handler) return undefined;
      if (!go) this.pause();
      if (this.mode === M_LENGTH && this.remaining === 0) {
        // anything after a complete bodyless answer is a protocol breach: the connection is not reused
        if (buf.length > 0) this.reusable = false;
        this.complete();
        return undefined;
      }
      return buf;
    }
  }

  private readBody(chunk: Buffer): void {
    const handler = this.handler!;
    if (this.mode === M_LENGTH) {
      const remaining = this.remaining;
      if (chunk.length < remaining) {
        this.remaining = remaining - chunk.length;
        if (!this.deliver(handler, chunk) && this.handler === handler) this.pause();
        return;
      }
      if (chunk.length > remaining) this.reusable = false;
      this.remaining = 0;
      this.deliver(handler, chunk.length === remaining ? chunk : chunk.subarray(0, remaining));
      if (this.handler === handler) this.complete();
    } else if (this.mode === M_CHUNKED) {
      const decoder = this.decoder!;
      let go = true;
      const used = decoder.feed(chunk, (data) => {
        if (this.handler === handler && !this.deliver(handler, data)) go = false;
      });
      if (this.handler !== handler) return;
      if (decoder.error !== undefined) {
        this.fail(upstreamFailure('GH_UPSTREAM_BAD_RESPONSE', `invalid chunked body from upstream: ${decoder.error}`));
      } else if (decoder.done) {
        if (used < chunk.length) this.reusable = false;
        this.complete();
      } else if (!go) {
        this.pause();
      }
    } else if (!this.deliver(handler, chunk) && this.handler === handler) {
      this.pause();
    }
  }

  /**
   * Hands a body piece to the handler (false: it asks to pause). Out of a read buffer
   * that the next read overwrites, the piece is a copy or the buffer is given up, unless
   * the handler says it released the piece at once.
   */
  private deliver(handler: ResponseHandler, piece: Buffer): boolean {
    const reads = this.reads;
    if (reads === undefined || !reads.lent) return handler.onData(piece);
    const go = handler.onData(reads.handOn(piece));
    if (reads.gaveLast && handler.pieceReleased?.() === true) reads.released();
    return go;
  }

  // While the caller holds the body back (a slow client), the upstream is not silent, we
  // are not listening: the read timeout stops, as nginx's proxy_read_timeout does.
  private pause(): void {
    if (!this.paused) {
      this.paused = true;
      this.socket.pause();
      this.setTimer(0);
    }
  }

  private readonly resume = (): void => {
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
      if (this.request !== undefined) this.setTimer(this.request.readTimeoutMs);
    }
  };

  /** The response is read: the connection goes back to the pool (or closes) before the caller hears of it. */
  private complete(): void {
    const handler = this.handler!;
    this.handler = undefined;
    this.request = undefined;
    this.decoder = undefined;
    this.state = S_IDLE;
    this.reads?.exchangeEnded();
    let reusable = this.reusable;
    if (!this.requestSent) {
      // the upstream answered before taking the whole body: what is left of it cannot be sent
      reusable = false;
      this.stopUpload();
    }
    if (reusable) {
      this.resume();
      this.setTimer(this.owner.idleTimeoutMs);
    }
    this.owner.release(this, reusable);
    handler.onComplete();
  }

  private handUpgrade(status: number, headers: string[], rest: Buffer): void {
    const handler = this.handler!;
    this.handler = undefined;
    this.request = undefined;
    const socket = this.socket;
    socket.pause(); // no 'data' listener from here until the caller's: nothing may be emitted to nobody
    socket.removeListener('data', this.onSocketData);
    socket.removeListener('end', this.onSocketEnd);
    socket.removeListener('error', this.onSocketError);
    socket.removeListener('close', this.onSocketClose);
    socket.removeListener('timeout', this.onSocketTimeout);
    socket.removeListener('drain', this.onSocketDrain);
    socket.setTimeout(0);
    this.owner.forget(this);
    if (rest.length > 0) socket.unshift(rest);
    if (handler.onUpgrade === undefined) socket.destroy();
    else handler.onUpgrade(status, headers, socket);
  }

  // ---- failures ------------------------------------------------------------------------------

  private abort(handler: ResponseHandler, err: Error | undefined): void {
    if (this.handler !== handler) return;
    this.fail(err ?? upstreamFailure('GH_UPSTREAM_ABORTED', 'the upstream request was given up'), false);
  }

  /** Ends the exchange with an error; the connection is never reused after one. */
  private fail(err: Error, mayResend = true): void {
    const handler = this.handler;
    const req = this.request;
    this.handler = undefined;
    this.request = undefined;
    this.state = S_IDLE;
    this.stopUpload();
    this.socket.destroy();
    if (handler === undefined) return;
    // A kept-alive connection the upstream closed as we reused it: the request never reached
    // its application, so it goes once more on a new connection (nginx does the same).
    const code = (err as { code?: string }).code;
    if (mayResend && this.requests > 1 && !this.answered && req !== undefined && (req.body === null || Buffer.isBuffer(req.body)) &&
      (code === 'ECONNRESET' || code === 'EPIPE' || code === 'GH_UPSTREAM_CLOSED')) {
      this.owner.resend(req, handler);
      return;
    }
    handler.onError(err);
  }

  private readonly onConnected = (): void => {
    this.connected = true;
    this.socket.setNoDelay(true);
    this.setTimer(this.request?.readTimeoutMs ?? this.owner.idleTimeoutMs);
  };

  private readonly onSocketEnd = (): void => {
    if (this.handler !== undefined && this.state === S_BODY && this.mode === M_UNTIL_CLOSE) {
      this.reusable = false;
      this.complete();
    }
  };

  private readonly onSocketError = (err: Error): void => {
    this.fail(err);
  };

  private readonly onSocketClose = (): void => {
    this.owner.forget(this);
    if (this.handler !== undefined) {
      this.fail(upstreamFailure('GH_UPSTREAM_CLOSED', this.answered
        ? 'upstream closed the connection before the response was complete'
        : 'upstream closed the connection without answering'));
    }
  };

  private readonly onSocketTimeout = (): void => {
    if (this.handler === undefined) {
      this.socket.destroy();
    } else if (!this.connected) {
      this.fail(upstreamFailure('GH_UPSTREAM_CONNECT_TIMEOUT', 'upstream connect timed out'), false);
    } else {
      this.fail(upstreamFailure('GH_UPSTREAM_READ_TIMEOUT', 'upstream read timed out'), false);
    }
  };

  /** socket.setTimeout allocates a timer: it is called only when the value changes. */
  private setTimer(ms: number): void {
    if (ms !== this.timeoutMs) {
      this.timeoutMs = ms;
      this.socket.setTimeout(ms);
    }
  }
}
