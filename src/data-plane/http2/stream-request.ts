import type { Socket } from 'node:net';
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { HttpRequest, RequestBody, type BodySource } from '../http1/request.js';

const GH_BODY_TOO_LARGE = 'GH_BODY_TOO_LARGE';

/**
 * One HTTP/2 stream's request as the lifecycle reads requests (http1/request.ts): the
 * pseudo-headers become method and target, `:authority` the Host header; the DATA frames
 * stream into `body` with backpressure (a full body buffer pauses the stream, so its flow
 * control window stops being replenished).
 */
export class Http2Request extends HttpRequest implements BodySource {
  override readonly httpVersion = '2.0';
  private dropping = false;

  /**
   * @param head what http2/request-head.ts made of the stream's header block
   * @param hasBody the HEADERS frame did not end the stream
   * @param maxBodySize `node.client.max_body_size` (0: no limit)
   */
  constructor(
    readonly stream: ServerHttp2Stream,
    head: { method: string; url: string; headers: IncomingHttpHeaders; rawHeaders: string[]; headBytes: number },
    socket: Socket, remoteAddr: string, localPort: number, hasBody: boolean, private readonly maxBodySize: number,
  ) {
    super({ method: head.method, url: head.url, versionMinor: 1, headers: head.headers as Record<string, string | string[]>,
      rawHeaders: head.rawHeaders, bodyLength: hasBody ? -1 : 0, keepAlive: true, upgrade: false, expectContinue: false },
    socket, head.headBytes, remoteAddr, localPort);
    if (hasBody) {
      this.body = new RequestBody(this);
      stream.on('data', this.onData);
      stream.once('end', this.onEnd);
    } else {
      this.bodyReceived = true;
    }
  }

  override get uploadChannel(): Pick<Socket, 'setTimeout' | 'removeListener'> {
    return this.stream as unknown as Pick<Socket, 'setTimeout' | 'removeListener'>;
  }

  private readonly onData = (chunk: Buffer): void => {
    this.bytesRead += chunk.length;
    if (this.dropping) return;
    const max = this.maxBodySize;
    if (max > 0 && this.bytesRead > max && !this.bodyTooLarge) {
      this.bodyTooLarge = true;
      this.drop(Object.assign(new Error('request body too large'), { code: GH_BODY_TOO_LARGE }));
      return;
    }
    if (!this.body!.push(chunk)) this.stream.pause();
  };

  private readonly onEnd = (): void => {
    this.bodyReceived = true;
    if (!this.dropping) this.body!.push(null);
  };

  resumeBody(): void {
    this.stream.resume();
  }

  abandonBody(): void {
    if (!this.bodyReceived) this.drop(new Error('request body abandoned'));
  }

  /** The body is no longer wanted: what still arrives is read and thrown away, so the window keeps moving. */
  private drop(err: Error): void {
    if (this.dropping) return;
    this.dropping = true;
    const body = this.body;
    if (body !== null && !body.destroyed) body.destroy(err);
    this.stream.resume();
  }
}
