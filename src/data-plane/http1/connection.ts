import { STATUS_CODES } from 'node:http';
import { ERRORS, type ErrorCode } from '../../core/errors.js';
import type { Socket } from 'node:net';
import { parseRequestHead } from './request-head.js';
import { ChunkedDecoder } from './chunked-decoder.js';
import { HttpRequest, RequestBody, type BodySource } from './request.js';
import { HttpResponse } from './response.js';
import { hasRoom } from './socket-room.js';

export interface Http1Handlers {
  /** A parsed request; the body (if any) streams in `req.body` while the handler works. */
  onRequest(req: HttpRequest, res: HttpResponse): void;
  /** An Upgrade request: answer with `res` (the connection then closes) or take the socket with `conn.detach()`. */
  onUpgrade(req: HttpRequest, res: HttpResponse, conn: Http1Connection): void;
  /** The body of an error the connection answers itself (malformed request, 408, 431…). */
  /** Headers and body of an error the layer answers itself; `detail` is what went wrong, for the client. */
  errorBody(code: ErrorCode, detail: string): { headers: string; body: Buffer };
  /**
   * A connection that speaks HTTP/2 (absent: HTTP/1.1 only): a plain one that opened with
   * the connection preface, whose bytes read so far are `preface`, or a TLS one that chose
   * `h2` by ALPN. The socket is the handler's from then on.
   */
  onHttp2?(socket: Socket, preface: Buffer | undefined): void;
}

export interface Http1Limits {
  maxHeaderSize: number;
  /** 0 = unlimited. */
  maxBodySize: number;
  headerTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** 0 = off. */
  requestTimeoutMs: number;
}

export interface Http1ConnectionOwner {
  readonly handlers: Http1Handlers;
  readonly limits: Http1Limits;
  readonly closing: boolean;
  forget(conn: Http1Connection): void;
}

const enum Reading { Head, Body, Hold, Closed }

/** Bytes a finished response may leave unread in its request body and still keep the connection. */
const DRAIN_LIMIT = 256 * 1024;
/** Pipelined bytes held while a response is pending before the socket is paused. */
const HOLD_LIMIT = 64 * 1024;

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
/** Body pieces up to this size are copied into the head's buffer and leave in one write. */
const COALESCE_LIMIT = 16 * 1024;
const GH_BODY_TOO_LARGE = 'GH_BODY_TOO_LARGE';

/**
 * One client connection speaking HTTP/1.1: frames requests (pipelined ones in order),
 * streams bodies with backpressure, writes responses with as few syscalls as it can,
 * and enforces the header, body and idle limits. One request is handled at a time.
 */
export class Http1Connection implements BodySource {
  private reading = Reading.Head;
  private buf: Buffer | undefined;
  /** Pieces of an unfinished head received after `buf`, and the last 3 bytes seen (packed). */
  private parts: Buffer[] | undefined;
  private partsLength = 0;
  private tail = 0;
  private req: HttpRequest | undefined;
  private res: HttpResponse | undefined;
  /** Content-Length bytes still to come, or -1 while a chunked decoder frames the body. */
  private bodyLeft = 0;
  private decoder: ChunkedDecoder | undefined;
  private bodySeen = 0;
  /** Body bytes are read and thrown away (the response no longer needs them). */
  private dropBody = false;
  /** Close once the current response is written. */
  private mustClose = false;
  private clientEnded = false;
  private paused = false;
  private parsing = false;
  private served = 0;
  /** The socket is corked until the end of the tick (sendBatched). */
  private batching = false;
  /** When the current reading state began (ms, Date.now()): the timeouts count from here. */
  private since: number;
  private requestStart = 0;

  /** Peer address and local port, read once: every request of the connection shares them. */
  private readonly remoteAddr: string;
  private readonly localPort: number;

  /** nginx `connection`: this worker's serial number of the connection; and when it was accepted. */
  private readonly serial = ++connectionSerial;
  private readonly acceptedAt: number;

  constructor(readonly socket: Socket, private readonly owner: Http1ConnectionOwner) {
    this.since = this.acceptedAt = Date.now();
    const addr = socket.remoteAddress ?? '';
    this.remoteAddr = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
    this.localPort = socket.localPort ?? 0;
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
  }

  /** No request in progress: safe to close without losing anything. */
  get idle(): boolean {
    return this.res === undefined && this.reading === Reading.Head;
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Closes the connection now if idle, or after the response in progress. */
  closeWhenIdle(): void {
    if (this.idle) this.socket.destroy();
    else {
      this.mustClose = true;
      this.res?.closeConnection();
    }
  }

  /** Hands the socket over (a WebSocket splice); returns the bytes read past the request head. */
  detach(): Buffer {
    const s = this.socket;
    s.off('data', this.onData);
    s.off('end', this.onEnd);
    s.off('error', this.onError);
    s.off('close', this.onClose);
    s.off('drain', this.onDrain);
    this.reading = Reading.Closed;
    this.owner.forget(this);
    if (this.paused) s.resume();
    const rest = this.buf ?? Buffer.alloc(0);
    this.buf = undefined;
    return rest;
  }

  /** Called by the idle sweep of the listener. */
  checkTimeouts(now: number): void {
    const l = this.owner.limits;
    switch (this.reading) {
      case Reading.Head:
        if (this.res !== undefined) return;
        if (this.buf === undefined) {
          const limit = this.served === 0 ? l.headerTimeoutMs : l.keepAliveTimeoutMs;
          if (now - this.since > limit) this.socket.destroy();
        } else if (now - this.since > l.headerTimeoutMs) {
          this.reject('GH_ERR_CLIENT_TIMEOUT');
        }
        return;
      case Reading.Body:
        if (this.res === undefined) {
          if (now - this.since > l.headerTimeoutMs) this.socket.destroy(); // draining a body nobody reads
        } else if (l.requestTimeoutMs > 0 && now - this.requestStart > l.requestTimeoutMs) {
          if (this.res.headersSent) this.socket.destroy();
          else this.reject('GH_ERR_CLIENT_TIMEOUT');
        }
        return;
    }
  }

  // ---- reading ------------------------------------------------------------------------------

  private readonly onData = (chunk: Buffer): void => {
    switch (this.reading) {
      case Reading.Head:
        if (this.buf === undefined) {
          this.buf = chunk;
          this.since = Date.now();
          if (!this.parsing) this.parse();
          return;
        }
        this.moreHead(chunk);
        return;
      case Reading.Body: {
        const rest = this.feedBody(chunk);
        if (rest !== undefined) this.hold(rest);
        return;
      }
      case Reading.Hold:
        this.hold(chunk);
        return;
    }
  };

  /**
   * More bytes of an unfinished head. They are collected, not concatenated, and the head
   * is parsed again only once its blank line has arrived (or it grew past the limit): a
   * client sending a byte at a time costs linear work, not a rescan per byte.
   */
  private moreHead(chunk: Buffer): void {
    (this.parts ??= []).push(chunk);
    this.partsLength += chunk.length;
    // A bare LF can never become valid (the parser refuses it), so it is parsed, and
    // refused, at once instead of waiting for a CRLFCRLF that will never come.
    const complete = endsHead(this.tail, chunk) || hasBareLf(this.tail, chunk);
    this.tail = lastBytes(this.tail, chunk);
    if (!complete && this.buf!.length + this.partsLength <= this.owner.limits.maxHeaderSize) return;
    this.buf = Buffer.concat([this.buf!, ...this.parts]);
    this.parts = undefined;
    this.partsLength = 0;
    if (!this.parsing) this.parse();
  }

  private hold(chunk: Buffer): void {
    this.buf = this.buf === undefined ? chunk : Buffer.concat([this.buf, chunk]);
    if (this.reading === Reading.Head) {
      if (!this.parsing) this.parse();
    } else if (this.buf.length > HOLD_LIMIT && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  /** Parses and dispatches every complete request head in the buffer, one request at a time. */
  private parse(): void {
    this.parsing = true;
    try {
      while (this.reading === Reading.Head && this.res === undefined && this.buf !== undefined) {
        const buf = this.buf;
        const r = parseRequestHead(buf, this.owner.limits.maxHeaderSize);
        if (r === undefined) {
          this.tail = lastBytes(0, buf);
          return;
        }
        if (!r.ok) {
          // h2c by prior knowledge: the preface reads as a request head of version 2.0, so
          // only this refusal pays for the check, never an HTTP/1.1 request.
          if (r.status === 505 && this.served === 0 && this.owner.handlers.onHttp2 !== undefined && isHttp2Preface(buf)) {
            this.owner.handlers.onHttp2(this.socket, this.detach());
            return;
          }
          this.reject(HEAD_ERRORS[r.status], r.reason);
          return;
        }
        this.buf = r.consumed === buf.length ? undefined : buf.subarray(r.consumed);
        this.dispatch(r.head, r.consumed);
      }
    } finally {
      this.parsing = false;
    }
  }

  private dispatch(head: import('./request-head.js').RequestHead, headBytes: number): void {
    const socket = this.socket;
    const req = new HttpRequest(head, socket, headBytes, this.remoteAddr, this.localPort);
    req.connectionSerial = this.serial;
    req.connectionRequests = this.served + 1;
    req.connectionAcceptedAt = this.acceptedAt;
    const keepAlive = head.keepAlive && !this.mustClose && !this.clientEnded && !this.owner.closing;
    // Only WebSocket is taken over; any other Upgrade (h2c, TLS/1.0) is served as the
    // HTTP/1.1 request it also is, the offer ignored (RFC 9110 §7.8), as nginx does.
    const upgrade = head.upgrade && isWebSocketUpgrade(req.headers.upgrade);
    const res = new HttpResponse(this, head.method === 'HEAD', head.versionMinor === 0, keepAlive && !upgrade);
    this.req = req;
    this.res = res;
    this.requestStart = this.since = Date.now();
    if (upgrade) {
      this.reading = Reading.Hold;
      this.owner.handlers.onUpgrade(req, res, this);
      return;
    }
    if (head.bodyLength !== 0) {
      req.body = new RequestBody(this);
      this.reading = Reading.Body;
      this.bodySeen = 0;
      this.dropBody = false;
      if (head.bodyLength === -1) {
        this.bodyLeft = -1;
        this.decoder = new ChunkedDecoder();
      } else {
        this.bodyLeft = head.bodyLength;
        this.decoder = undefined;
      }
      if (head.expectContinue && head.versionMinor === 1) socket.write(CONTINUE);
      const pending = this.buf;
      if (pending !== undefined) {
        this.buf = undefined;
        const rest = this.feedBody(pending);
        if (rest !== undefined) this.buf = rest;
      }
    } else {
      this.reading = Reading.Hold;
      req.bodyReceived = true;
    }
    this.owner.handlers.onRequest(req, res);
  }

  /** Frames body bytes; returns what follows the body in `chunk` (the next request's bytes). */
  private feedBody(chunk: Buffer): Buffer | undefined {
    const req = this.req!;
    req.bytesRead += chunk.length;
    if (this.bodyLeft >= 0) {
      const n = Math.min(this.bodyLeft, chunk.length);
      this.bodyLeft -= n;
      this.deliver(n === chunk.length ? chunk : chunk.subarray(0, n));
      if (this.bodyLeft > 0) return undefined;
      req.bytesRead -= chunk.length - n;
      this.bodyDone();
      return n === chunk.length ? undefined : chunk.subarray(n);
    }
    const decoder = this.decoder!;
    const used = decoder.feed(chunk, this.deliver);
    if (used === -1) {
      this.badBody(decoder.error ?? 'malformed chunked body');
      return undefined;
    }
    if (!decoder.done) return undefined;
    req.bytesRead -= chunk.length - used;
    this.bodyDone();
    return used === chunk.length ? undefined : chunk.subarray(used);
  }

  private readonly deliver = (data: Buffer): void => {
    if (data.length === 0) return;
    this.bodySeen += data.length;
    if (this.dropBody) return;
    const req = this.req!;
    const max = this.owner.limits.maxBodySize;
    if (max > 0 && this.bodySeen > max) {
      req.bodyTooLarge = true;
      this.abandon(Object.assign(new Error('request body too large'), { code: GH_BODY_TOO_LARGE }));
      return;
    }
    if (!req.body!.push(data) && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  };

  private bodyDone(): void {
    const req = this.req!;
    req.bodyReceived = true;
    if (!this.dropBody) req.body!.push(null);
    this.decoder = undefined;
    if (this.res === undefined) this.nextRequest(); // the response finished first: the body was drained
    else this.reading = Reading.Hold;
  }

  /** A chunked body that does not parse: the request cannot be framed, so the connection ends. */
  private badBody(reason: string): void {
    this.mustClose = true;
    const res = this.res;
    if (res !== undefined && !res.headersSent) {
      this.abandon(Object.assign(new Error(reason), { code: 'HPE_INVALID_CHUNK_SIZE' }));
      this.reject('GH_ERR_CLIENT_BAD_REQUEST', reason);
    } else {
      this.socket.destroy();
    }
  }

  /** The body's consumer gave up on it: the rest is read and dropped, and the connection closes after the response. */
  private abandon(err: Error): void {
    if (this.dropBody) return;
    this.dropBody = true;
    this.mustClose = true;
    this.res?.closeConnection();
    const body = this.req?.body;
    if (body != null && !body.destroyed) body.destroy(err);
    this.resumeBody();
  }

  resumeBody(): void {
    if (this.paused && (this.reading !== Reading.Hold || (this.buf?.length ?? 0) <= HOLD_LIMIT)) {
      this.paused = false;
      this.socket.resume();
    }
  }

  abandonBody(): void {
    if (this.reading === Reading.Body) this.abandon(new Error('request body abandoned'));
  }

  // ---- writing ------------------------------------------------------------------------------

  /**
   * @internal Writes `prefix` (status line, headers, chunk-size line: latin1 text), a body
   * piece and `suffix` (chunk framing). A small response goes out as one buffer in one
   * write: cheaper than `writev` of its parts, which is most of a small proxied response's
   * cost. A large piece is written as is, between its framing, in one corked batch.
   * false: the socket has no room (socket-room.ts), wait for drain.
   */
  send(prefix: string, body: Buffer | undefined, suffix: string): boolean {
    const socket = this.socket;
    if (!socket.writable) return false;
    if (body === undefined) {
      socket.write(prefix + suffix, 'latin1');
    } else if (body.length <= COALESCE_LIMIT) {
      const out = Buffer.allocUnsafe(prefix.length + body.length + suffix.length);
      out.write(prefix, 0, 'latin1');
      body.copy(out, prefix.length);
      if (suffix !== '') out.write(suffix, prefix.length + body.length, 'latin1');
      socket.write(out);
    } else if (prefix === '' && suffix === '') {
      socket.write(body);
    } else {
      socket.cork();
      if (prefix !== '') socket.write(prefix, 'latin1');
      socket.write(body);
      if (suffix !== '') socket.write(suffix, 'latin1');
      socket.uncork();
    }
    return hasRoom(socket);
  }

  /** @internal Nothing written is queued in the socket: the kernel took all of it (a corked batch is queued). */
  get flushed(): boolean {
    return this.socket.writableLength === 0;
  }

  /**
   * @internal As send, but the socket stays corked until the end of this tick, so the
   * pieces written meanwhile (a streamed answer's events, parsed from one upstream read)
   * leave in one system call, as node's own http server does.
   */
  sendBatched(prefix: string, body: Buffer | undefined, suffix: string): boolean {
    // a large piece gains nothing from waiting for others, and written now it can be released at once (its read buffer reused)
    if (!this.batching && body !== undefined && body.length > COALESCE_LIMIT) return this.send(prefix, body, suffix);
    if (!this.batching && this.socket.writable) {
      this.batching = true;
      this.socket.cork();
      process.nextTick(endBatch, this);
    }
    return this.send(prefix, body, suffix);
  }

  /** @internal */
  endBatch(): void {
    this.batching = false;
    this.socket.uncork();
  }

  /** @internal the response was ended: flush it, then read the next request or close. */
  responseFinished(res: HttpResponse, closeAfter: boolean): void {
    if (res !== this.res) return;
    this.served++;
    this.res = undefined;
    const socket = this.socket;
    if (closeAfter || this.mustClose || this.clientEnded || this.owner.closing) {
      this.reading = Reading.Closed;
      socket.end();
      res.closed();
      return;
    }
    if (this.reading === Reading.Body) {
      // The response is done before the body was all read (an early answer such as 401 or 413).
      const left = this.bodyLeft;
      if (left > DRAIN_LIMIT || (left === -1 && this.bodySeen > DRAIN_LIMIT)) {
        this.reading = Reading.Closed;
        socket.end();
        res.closed();
        return;
      }
      this.dropBody = true;
      const body = this.req?.body;
      if (body != null && !body.destroyed) body.destroy();
      this.since = Date.now();
      this.resumeBody();
      res.closed();
      return;
    }
    res.closed();
    if (this.res === undefined && this.reading === Reading.Hold) this.nextRequest();
  }

  private nextRequest(): void {
    this.reading = Reading.Head;
    this.req = undefined;
    this.since = Date.now();
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
    if (this.buf !== undefined && !this.parsing) this.parse();
  }

  /** Answers an error the connection found itself, then closes. */
  private reject(code: ErrorCode, detail: string = ERRORS[code].message): void {
    const status = ERRORS[code].status;
    this.reading = Reading.Closed;
    this.buf = undefined;
    const res = this.res;
    this.res = undefined;
    const socket = this.socket;
    if (socket.writable && (res === undefined || !res.headersSent)) {
      const { headers, body } = this.owner.handlers.errorBody(code, detail);
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n${headers}content-length: ${body.length}\r\nconnection: close\r\n\r\n`, 'latin1');
      socket.end(body);
    } else {
      socket.destroy();
    }
    res?.closed();
  }

  // ---- socket events ------------------------------------------------------------------------

  /** The client shut down its side: a request in progress is abandoned (nginx's 499, node's default), an idle connection closes. */
  private readonly onEnd = (): void => {
    this.clientEnded = true;
    if (this.res === undefined && this.reading === Reading.Head && this.buf === undefined) this.socket.end();
    else this.socket.destroy();
  };

  private readonly onError = (): void => {
    this.socket.destroy();
  };

  private readonly onDrain = (): void => {
    this.res?.drained();
  };

  private readonly onClose = (): void => {
    this.reading = Reading.Closed;
    this.owner.forget(this);
    const body = this.req?.body;
    if (body != null && !body.readableEnded && !body.destroyed) {
      body.destroy(Object.assign(new Error('client closed the connection'), { code: 'ECONNRESET' }));
    }
    const res = this.res;
    this.res = undefined;
    res?.closed();
  };
}

let connectionSerial = 0;

const CRLFCRLF = 0x0d0a0d0a;

/** Whether the blank line ending a head is in `chunk`, or straddles it and the 3 bytes before it (`tail`). */
function endsHead(tail: number, chunk: Buffer): boolean {
  let w = tail;
  const n = Math.min(3, chunk.length);
  for (let i = 0; i < n; i++) {
    w = ((w << 8) | chunk[i]!) >>> 0;
    if (w === CRLFCRLF) return true;
  }
  return chunk.indexOf('\r\n\r\n', 0, 'latin1') !== -1;
}

/** Whether `chunk` has an LF not preceded by CR (the byte before the chunk is the low byte of `tail`). */
function hasBareLf(tail: number, chunk: Buffer): boolean {
  for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) {
    const before = i === 0 ? tail & 0xff : chunk[i - 1]!;
    if (before !== 0x0d) return true;
  }
  return false;
}

/** The last 3 bytes of `tail` followed by `chunk`, packed into an integer. */
function lastBytes(tail: number, chunk: Buffer): number {
  let w = tail;
  for (let i = Math.max(0, chunk.length - 3); i < chunk.length; i++) w = ((w << 8) | chunk[i]!) & 0xffffff;
  return w;
}

/** The catalogue's code for each status the request-head parser refuses with. */
const HEAD_ERRORS: Record<400 | 431 | 501 | 505, ErrorCode> = {
  400: 'GH_ERR_CLIENT_BAD_REQUEST',
  431: 'GH_ERR_CLIENT_HEADERS_TOO_LARGE',
  501: 'GH_ERR_CLIENT_NOT_IMPLEMENTED',
  505: 'GH_ERR_CLIENT_HTTP_VERSION',
};

/** Whether an Upgrade header offers WebSocket (a list of protocols, compared ignoring case). */
function isWebSocketUpgrade(value: string | string[] | undefined): boolean {
  if (typeof value !== 'string') return false;
  if (value.length === 9) return value.toLowerCase() === 'websocket';
  return value.split(',').some((p) => p.trim().toLowerCase() === 'websocket');
}

function endBatch(conn: Http1Connection): void {
  conn.endBatch();
}

const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\n');

/** The start of the HTTP/2 connection preface (RFC 9113 §3.4); the session checks the rest (`SM\r\n\r\n`). */
function isHttp2Preface(buf: Buffer): boolean {
  return buf.length >= HTTP2_PREFACE.length && buf.compare(HTTP2_PREFACE, 0, HTTP2_PREFACE.length, 0, HTTP2_PREFACE.length) === 0;
}
