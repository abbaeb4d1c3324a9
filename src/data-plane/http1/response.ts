import { STATUS_CODES } from 'node:http';
import { ResponseBase, type ClientResponse, type HeaderInput } from '../client-response.js';

export type { HeaderInput };

/** What a response writes through: its connection (connection.ts), seen from here as no more than this. */
export interface ResponseOutput {
  send(prefix: string, body: Buffer | undefined, suffix: string): boolean;
  /** Nothing written is queued in the socket (all of it is in the kernel). */
  readonly flushed: boolean;
  /** As send, but grouped with the other writes of this tick into one system call. */
  sendBatched(prefix: string, body: Buffer | undefined, suffix: string): boolean;
  responseFinished(res: HttpResponse, close: boolean): void;
  destroy(): void;
}


const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[\0\r\n]/;
const CHUNK_END = '0\r\n\r\n';

let dateSecond = -1;
let dateValue = '';

/** The `Date` header value, rebuilt at most once a second. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(now).toUTCString();
  }
  return dateValue;
}

export class InvalidHeaderError extends Error {
  readonly code = 'ERR_INVALID_HTTP_TOKEN';
}

/**
 * The response of one request, written straight to the client socket. The status line
 * and headers are held until the first body write so that a small response leaves in
 * one `writev`; the framing (Content-Length, chunked, or close-delimited for HTTP/1.0)
 * is chosen then, the way node's ServerResponse does.
 */
export class HttpResponse extends ResponseBase implements ClientResponse {
  private reason: string | undefined;
  private headers: HeaderInput | undefined;
  private trusted = false;
  private chunked = false;
  /** The Content-Length the headers declared, -1 when they declared none. */
  private declaredLength = -1;
  private noBody: boolean;
  private closeAfter: boolean;
  constructor(private readonly conn: ResponseOutput, private readonly headRequest: boolean, private readonly http10: boolean, keepAlive: boolean) {
    super();
    this.noBody = headRequest;
    this.closeAfter = !keepAlive;
  }

  /**
   * Sets the status and headers; nothing is written yet. `trusted` headers (straight from
   * undici's parser plus our own) skip the name/value checks that guard against header
   * injection by plugins.
   */
  writeHead(status: number, reasonOrHeaders?: string | HeaderInput, headers?: HeaderInput, trusted = false): this {
    if (this.headersSent) throw new Error('headers already sent');
    this.statusCode = status;
    if (typeof reasonOrHeaders === 'string') {
      if (BAD_VALUE.test(reasonOrHeaders)) throw new InvalidHeaderError('invalid status message');
      this.reason = reasonOrHeaders;
      this.headers = headers;
    } else {
      this.headers = reasonOrHeaders ?? headers;
    }
    this.trusted = trusted;
    if (!trusted && this.headers !== undefined) validateHeaders(this.headers);
    return this;
  }

  /**
   * Writes a body chunk; false means the socket buffer is full (wait for `onDrain`). A
   * piece that completes a declared Content-Length goes out at once (a small proxied
   * response is one write); any other piece is batched with the writes of the same tick,
   * as a streamed answer (server-sent events) arrives as many small pieces per read from
   * upstream and one system call per piece cost more than everything else it does.
   */
  write(chunk: Buffer | string): boolean {
    if (this.destroyed || this.writableFinished) return false;
    const head = this.headersSent ? '' : this.head(-1);
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (this.noBody || data.length === 0) return head === '' || this.send(head, undefined, '');
    this.bodyBytes += data.length;
    if (this.chunked) return this.sendBatched(`${head}${data.length.toString(16)}\r\n`, data, '\r\n');
    if (this.bodyBytes === this.declaredLength) return this.send(head, data, '');
    return this.sendBatched(head, data, '');
  }

  /** Finishes the response, optionally with a last chunk. */
  end(chunk?: Buffer | string): void {
    if (this.destroyed || this.writableFinished) return;
    const data = chunk === undefined ? undefined : typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let prefix = this.headersSent ? '' : this.head(data?.length ?? 0);
    let body: Buffer | undefined;
    let suffix = '';
    if (data !== undefined && data.length > 0 && !this.noBody) {
      this.bodyBytes += data.length;
      body = data;
      if (this.chunked) {
        prefix += `${data.length.toString(16)}\r\n`;
        suffix = '\r\n';
      }
    }
    if (this.chunked) suffix += CHUNK_END;
    if (prefix !== '' || body !== undefined || suffix !== '') this.send(prefix, body, suffix);
    this.writableFinished = true;
    this.conn.responseFinished(this, this.closeAfter);
  }

  private send(prefix: string, body: Buffer | undefined, suffix: string): boolean {
    this.bytesSent += prefix.length + (body?.length ?? 0) + suffix.length;
    return this.conn.send(prefix, body, suffix);
  }

  private sendBatched(prefix: string, body: Buffer | undefined, suffix: string): boolean {
    this.bytesSent += prefix.length + (body?.length ?? 0) + suffix.length;
    return this.conn.sendBatched(prefix, body, suffix);
  }

  get flushed(): boolean {
    return this.conn.flushed;
  }

  /** Abandons the response: the connection is closed, which is all a client can be told mid-body. */
  destroy(_err?: Error): void {
    if (this.destroyed) return;
    this.conn.destroy();
  }

  /** @internal */
  drained(): void {
    this.drainListener?.();
  }

  /** @internal the connection will close after this response (server shutting down). */
  closeConnection(): void {
    if (!this.headersSent) this.closeAfter = true;
  }

  /**
   * The status line and headers. `endLength` is the whole body's length when the response
   * is being ended in one call (so it can get a Content-Length), -1 otherwise.
   */
  private head(endLength: number): string {
    this.headersSent = true;
    const status = this.statusCode;
    let out = `HTTP/1.1 ${status} ${this.reason ?? STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    let hasDate = false, hasLength = false, chunked = false;
    const h = this.headers;
    if (h !== undefined) {
      if (Array.isArray(h)) {
        const flat = h as readonly string[];
        for (let i = 0; i < flat.length; i += 2) {
          const name = flat[i]!, value = flat[i + 1]!;
          switch (name.length) {
            case 4: if (isNamed(name, 'date')) hasDate = true; break;
            case 10: if (isNamed(name, 'connection')) { if (/\bclose\b/i.test(value)) this.closeAfter = true; continue; } break;
            case 14: if (isNamed(name, 'content-length')) { hasLength = true; this.declaredLength = Number(value); } break;
            case 17: if (isNamed(name, 'transfer-encoding')) { chunked = /chunked/i.test(value); continue; } break;
          }
          out += `${name}: ${value}\r\n`;
        }
      } else {
        const rec = h as Readonly<Record<string, string | number | readonly string[] | undefined>>;
        for (const name in rec) {
          const value = rec[name];
          if (value === undefined) continue;
          switch (name.length) {
            case 4: if (isNamed(name, 'date')) hasDate = true; break;
            case 10: if (isNamed(name, 'connection')) { if (/\bclose\b/i.test(String(value))) this.closeAfter = true; continue; } break;
            case 14: if (isNamed(name, 'content-length')) { hasLength = true; this.declaredLength = Number(value); } break;
            case 17: if (isNamed(name, 'transfer-encoding')) { chunked = /chunked/i.test(String(value)); continue; } break;
          }
          if (Array.isArray(value)) for (const v of value as readonly string[]) out += `${name}: ${v}\r\n`;
          else out += `${name}: ${value as string | number}\r\n`;
        }
      }
    }
    this.headers = undefined;
    if (status === 204 || status === 304 || (status >= 100 && status < 200)) this.noBody = true;
    if (!hasLength && !this.noBody) {
      if (endLength >= 0 && !chunked) out += `content-length: ${endLength}\r\n`;
      else if (this.http10) this.closeAfter = true; // close-delimited: HTTP/1.0 has no chunked coding
      else { this.chunked = true; out += 'transfer-encoding: chunked\r\n'; }
    } else if (chunked && !hasLength && !this.http10 && !this.noBody) {
      this.chunked = true;
      out += 'transfer-encoding: chunked\r\n';
    }
    if (!hasDate) out += `date: ${httpDate()}\r\n`;
    if (this.closeAfter) out += 'connection: close\r\n';
    else if (this.http10) out += 'connection: keep-alive\r\n';
    return out + '\r\n';
  }
}

/**
 * `name` is `lower` ignoring ASCII case (same length assumed): no lower-cased copy made,
 * which head() would otherwise make for every header whose length matches one it looks
 * for (X-RateLimit-Limit is as long as Transfer-Encoding).
 */
function isNamed(name: string, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    const c = name.charCodeAt(i);
    if ((c >= 65 && c <= 90 ? c + 32 : c) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** Refuses header names that are not tokens and values with CR, LF or NUL (header injection by plugins). */
export function validateHeaders(h: HeaderInput): void {
  if (Array.isArray(h)) {
    const flat = h as readonly string[];
    for (let i = 0; i < flat.length; i += 2) check(flat[i]!, flat[i + 1]!);
    return;
  }
  const rec = h as Readonly<Record<string, string | number | readonly string[] | undefined>>;
  for (const name in rec) {
    const v = rec[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v as readonly string[]) check(name, x);
    else check(name, String(v));
  }
}

function check(name: string, value: string): void {
  if (!TOKEN.test(name)) throw new InvalidHeaderError(`invalid header name "${name}"`);
  if (BAD_VALUE.test(value)) throw new InvalidHeaderError(`invalid value for header "${name}"`);
}
