import { constants, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { ResponseBase, type ClientResponse, type HeaderInput } from '../client-response.js';
import { validateHeaders } from '../http1/response.js';

const { NGHTTP2_NO_ERROR, NGHTTP2_INTERNAL_ERROR } = constants;

/**
 * Connection-specific fields have no place in HTTP/2 (RFC 9113 §8.2.2): node refuses to
 * send them, so what an HTTP/1.1 upstream or a plugin set is dropped here. `te` may only
 * be `trailers`, which a response never needs.
 */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'host']);

function ignore(): void {}

/**
 * The response of one HTTP/2 stream, written the way the lifecycle writes HttpResponse:
 * status and headers are held until the first body bytes (so `end(body)` can declare its
 * length), body pieces go to the stream with its flow control as backpressure.
 * `destroy()` resets this stream only; the session and its other streams go on.
 */
export class Http2Response extends ResponseBase implements ClientResponse {
  /** This side reset the stream (destroy): not a client reset, for the rapid-reset count. */
  resetHere = false;
  /** Never claimed: node:http2 may hold written data in the session, out of sight of the stream. */
  readonly flushed = false;
  private headers: HeaderInput | undefined;
  private noBody: boolean;
  private wantTrailers = false;
  private trailerFields: Readonly<Record<string, string | readonly string[]>> | undefined;
  constructor(private readonly stream: ServerHttp2Stream, headRequest: boolean) {
    super();
    this.noBody = headRequest;
    stream.on('error', ignore); // a reset or a write after it: the close below tells the lifecycle
    stream.on('drain', () => this.drainListener?.());
    stream.once('close', () => this.closed());
  }

  /** The reason phrase has no place in HTTP/2 and is dropped. */
  writeHead(status: number, reasonOrHeaders?: string | HeaderInput, headers?: HeaderInput, trusted = false): this {
    if (this.headersSent) throw new Error('headers already sent');
    this.statusCode = status;
    this.headers = typeof reasonOrHeaders === 'string' ? headers : reasonOrHeaders ?? headers;
    if (!trusted && this.headers !== undefined) validateHeaders(this.headers);
    return this;
  }

  write(chunk: Buffer | string): boolean {
    if (this.destroyed || this.writableFinished || this.stream.destroyed) return false;
    if (!this.headersSent) this.respond(-1);
    if (this.noBody) return true;
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (data.length === 0) return true;
    this.bodyBytes += data.length;
    this.bytesSent += data.length;
    return this.stream.write(data);
  }

  end(chunk?: Buffer | string): void {
    if (this.destroyed || this.writableFinished) return;
    this.writableFinished = true;
    const data = chunk === undefined ? undefined : typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const stream = this.stream;
    if (!stream.destroyed) {
      const empty = data === undefined || data.length === 0;
      // An answer with no body (a gRPC trailers-only one among them) ends with its HEADERS frame.
      const endsWithHead = !this.headersSent && empty && this.trailerFields === undefined;
      if (!this.headersSent) this.respond(data?.length ?? 0, endsWithHead);
      if (!this.noBody && !endsWithHead) {
        if (!empty) {
          this.bodyBytes += data.length;
          this.bytesSent += data.length;
          stream.end(data);
        } else {
          stream.end();
        }
      }
      // The answer is complete before the client finished its body: the rest is not wanted (RFC 9113 §8.1).
      if (!stream.readableEnded) stream.once('finish', () => { if (!stream.closed) stream.close(NGHTTP2_NO_ERROR); });
    }
    this.closed();
  }

  /** Sends the head now, not with the first body bytes (a gRPC stream's metadata may come long before its messages). */
  flushHeaders(): void {
    if (!this.headersSent && !this.destroyed && !this.stream.destroyed) this.respond(-1);
  }

  /** Trailers may follow the body (a gRPC response): to be called before the head is sent. */
  expectTrailers(): void {
    if (!this.headersSent) this.wantTrailers = true;
  }

  /** The trailer fields sent after the body (expectTrailers first); to be called before end(). */
  setTrailers(fields: Readonly<Record<string, string | readonly string[]>>): void {
    this.trailerFields = fields;
    this.wantTrailers ||= !this.headersSent;
  }

  destroy(_err?: Error): void {
    if (this.destroyed || this.stream.destroyed) return;
    if (!this.writableFinished) this.resetHere = true;
    this.stream.close(NGHTTP2_INTERNAL_ERROR);
  }

  /** Sends the HEADERS frame; `endLength` is the whole body's length when ended in one call, -1 otherwise; `endStream`: nothing follows. */
  private respond(endLength: number, endStream = false): void {
    this.headersSent = true;
    const status = this.statusCode;
    const out: OutgoingHttpHeaders = { ':status': status };
    let size = 7 + 32;
    let hasLength = false;
    const add = (rawName: string, value: string): void => {
      const name = rawName.toLowerCase();
      if (CONNECTION_SPECIFIC.has(name)) return;
      if (name === 'content-length') hasLength = true;
      size += name.length + value.length + 32;
      const prev = out[name];
      if (prev === undefined) out[name] = value;
      else if (Array.isArray(prev)) prev.push(value);
      else out[name] = [String(prev), value];
    };
    const h = this.headers;
    this.headers = undefined;
    if (Array.isArray(h)) {
      const flat = h as readonly string[];
      for (let i = 0; i < flat.length; i += 2) add(flat[i]!, flat[i + 1]!);
    } else if (h !== undefined) {
      const rec = h as Readonly<Record<string, string | number | readonly string[] | undefined>>;
      for (const name in rec) {
        const value = rec[name];
        if (value === undefined) continue;
        if (Array.isArray(value)) for (const v of value as readonly string[]) add(name, v);
        else add(name, String(value));
      }
    }
    if (status === 204 || status === 304 || status < 200) this.noBody = true;
    if (this.noBody && status !== 304 && (status === 204 || status < 200)) delete out['content-length'];
    else if (!hasLength && endLength >= 0 && !this.noBody) out['content-length'] = endLength;
    this.bytesSent += size;
    const waitForTrailers = this.wantTrailers && !this.noBody && !endStream;
    if (waitForTrailers) {
      this.stream.once('wantTrailers', () => {
        const t = this.trailerFields ?? {};
        for (const name in t) this.bytesSent += name.length + String(t[name]).length + 32;
        try {
          this.stream.sendTrailers(t as OutgoingHttpHeaders);
        } catch {
          // reset meanwhile: its close event reports it
        }
      });
    }
    try {
      this.stream.respond(out, { endStream: this.noBody || endStream, waitForTrailers });
    } catch {
      // the stream closed under us (reset by the client): its close event reports it
    }
  }
}
