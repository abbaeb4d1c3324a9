import { Readable } from 'node:stream';
import type { Socket } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import type { RequestHead } from './request-head.js';

function ignore(): void {}

/** The connection side of a request body: asked to read more when the consumer wants data. */
export interface BodySource {
  resumeBody(): void;
  abandonBody(): void;
}

/**
 * A request body as a stream, made only for requests that have one. The connection pushes
 * the bytes it frames (Content-Length or chunked); a full buffer pauses the socket.
 */
export class RequestBody extends Readable {
  constructor(private readonly source: BodySource) {
    super({ highWaterMark: 64 * 1024 });
    // Whoever reads the body (undici) sees its errors; a body nobody reads must not crash the worker with them.
    this.on('error', ignore);
  }

  override _read(): void {
    this.source.resumeBody();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.readableEnded) this.source.abandonBody();
    cb(err);
  }
}

/**
 * One parsed request. The fields keep node's IncomingMessage names (method, url,
 * httpVersion, headers, rawHeaders, socket) so request variables read the same.
 */
export class HttpRequest {
  readonly method: string;
  readonly url: string;
  readonly httpVersion: '1.0' | '1.1' | '2.0';
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: string[];
  /** The body stream; null when the request has none (Content-Length 0 or absent). */
  body: RequestBody | null = null;
  /** Set by the connection when a body passed `max_body_size` while streaming. */
  bodyTooLarge = false;
  /** nginx `connection`, `connection_requests` (this one counted) and the connection's accept time (ms since the epoch). */
  connectionSerial = 0;
  connectionRequests = 0;
  connectionAcceptedAt = 0;
  /** Bytes of the request (head and body framing included) read from the socket so far. */
  bytesRead: number;

  /**
   * @param remoteAddr the peer's address (IPv4-mapped IPv6 unwrapped), read once per connection
   * @param localPort the port the connection came in on
   */
  constructor(head: RequestHead, readonly socket: Socket, headBytes: number, readonly remoteAddr: string, readonly localPort: number) {
    this.method = head.method;
    this.url = head.url;
    this.httpVersion = head.versionMinor === 1 ? '1.1' : '1.0';
    this.headers = head.headers as IncomingHttpHeaders;
    this.rawHeaders = head.rawHeaders;
    this.bytesRead = headBytes;
  }

  /** Whether the whole body (if any) has been received. */
  get complete(): boolean {
    return this.body === null || this.body.readableEnded || this.bodyReceived;
  }

  /** @internal */
  bodyReceived = false;

  /** What the upstream send timeout watches while the body uploads: the socket here, the stream on HTTP/2. */
  get uploadChannel(): Pick<Socket, 'setTimeout' | 'removeListener'> {
    return this.socket;
  }
}
