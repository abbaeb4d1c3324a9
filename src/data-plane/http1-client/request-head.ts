// The head of a request to an upstream, as one latin1 string.
//
// Header names and values that came from the client were validated by the gateway's own
// parser, and plugins' header edits are checked where they are made (plugin-run.ts). The
// path, the method and the Host are checked here: several plugin APIs (proxy-rewrite,
// serverless, wasm) rewrite them, and an HTTP/1.1 head has no escaping to fall back on.

/** A request-target may hold any visible ASCII or obs-text, nothing else. */
const BAD_TARGET = /[\0- \x7f]/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[\0\r\n]/;

export type BodyFraming =
  /** No body, and no framing header either (a GET). */
  | { kind: 'none' }
  /** `content-length: n` is written by the client (a body held in memory, or an empty POST). */
  | { kind: 'length'; length: number }
  /** The caller's headers already carry the Content-Length a streamed body will match. */
  | { kind: 'declared' }
  | { kind: 'chunked' };

export interface HeadOptions {
  method: string;
  path: string;
  /** Flat [name, value, …]: hop-by-hop fields already dropped; the Host first. */
  headers: readonly string[];
  framing: BodyFraming;
  /** The connection closes after this exchange: says so with `connection: close`. */
  close: boolean;
  /** An Upgrade handshake: `connection: upgrade` and `upgrade: <protocol>` (the gateway's own constant, 'websocket'). */
  upgrade?: string;
}

/** The head, or a message naming what cannot be sent. */
export function requestHead(o: HeadOptions): string | { invalid: string } {
  if (BAD_TARGET.test(o.path) || o.path === '') return { invalid: 'the request path holds a control character or a space' };
  if (!TOKEN.test(o.method)) return { invalid: 'the request method is not a token' };
  const h = o.headers;
  if (h.length > 1 && BAD_VALUE.test(h[1]!)) return { invalid: 'the Host holds a NUL, CR or LF' };
  let head = o.method + ' ' + o.path + ' HTTP/1.1\r\n';
  for (let i = 0; i < h.length; i += 2) head += h[i] + ': ' + h[i + 1] + '\r\n';
  const f = o.framing;
  if (f.kind === 'length') head += 'content-length: ' + f.length + '\r\n';
  else if (f.kind === 'chunked') head += 'transfer-encoding: chunked\r\n';
  if (o.upgrade !== undefined) {
    head += 'connection: upgrade\r\nupgrade: ' + o.upgrade + '\r\n';
  } else if (o.close) {
    head += 'connection: close\r\n';
  }
  return head + '\r\n';
}

/** The Content-Length the caller's headers declare, or -1. */
export function declaredLength(headers: readonly string[]): number {
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.length === 14 && name.toLowerCase() === 'content-length') {
      const n = Number(headers[i + 1]);
      return Number.isSafeInteger(n) && n >= 0 ? n : -1;
    }
  }
  return -1;
}
