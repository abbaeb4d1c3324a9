// Strict HTTP/1.1 response-head parser (RFC 9112 §4-§6) for the upstream client.
//
// The same approach as request-head.ts: one pass over the bytes driven by the byte-class
// tables, then one latin1 conversion of the whole head and slices of it. Upstreams are
// trusted less than they look: anything that could let one response be read as two
// (obs-fold, bare CR/LF, Content-Length with Transfer-Encoding, a coding other than
// chunked) is refused, and the gateway answers 502 instead of guessing.

import * as chars from './chars.js';
import { equalsIgnoreCase, F_CLOSE, F_KEEP_ALIVE, F_UPGRADE, listFlags, parseContentLength, parseTransferEncoding } from './field-values.js';

const TCHAR = chars.TCHAR;
const VALUE = chars.VALUE;

const HT = 9;
const LF = 10;
const CR = 13;
const SP = 32;
const COLON = 58;

/** The body runs until the upstream closes the connection (no Content-Length, not chunked). */
export const UNTIL_CLOSE = -2;
/** A chunked body follows. */
export const CHUNKED = -1;

export interface ResponseHead {
  status: number;
  /** The reason phrase as sent ('' when absent). */
  reason: string;
  versionMinor: 0 | 1;
  /** [name, value, …] in order received; names keep their case, values are OWS-trimmed. */
  rawHeaders: string[];
  /** CHUNKED, UNTIL_CLOSE, or the Content-Length. Not adjusted for HEAD, 204 or 304: the client knows the request. */
  bodyLength: number;
  /** The connection may carry another request once this response is read. */
  keepAlive: boolean;
  /** Connection has an 'upgrade' token (a 101's). */
  upgrade: boolean;
}

export type ResponseHeadResult =
  | { ok: true; head: ResponseHead; consumed: number }
  | { ok: false; reason: string };

const NAME_CONNECTION = Buffer.from('connection');
const NAME_CONTENT_LENGTH = Buffer.from('content-length');
const NAME_TRANSFER_ENCODING = Buffer.from('transfer-encoding');

// Buffer.prototype.latin1Slice exists on every supported node (>= 20) but is not in @types/node.
interface Latin1Buffer extends Buffer {
  latin1Slice(start: number, end: number): string;
}

const spans: number[] = [];

/**
 * Parses the response head at the start of `buf`. Undefined: incomplete, and still within
 * maxHeadSize. A head larger than maxHeadSize is refused like a malformed one.
 */
export function parseResponseHead(buf: Buffer, maxHeadSize: number): ResponseHeadResult | undefined {
  const isTchar = TCHAR;
  const isValue = VALUE;
  const offsets = spans;
  const len = buf.length;
  const lim = len < maxHeadSize ? len : maxHeadSize;
  const incomplete = (): ResponseHeadResult | undefined => (len > maxHeadSize ? fail('response head too large') : undefined);

  // ---- status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF
  if (lim < 13) return prefixError(buf, lim) ?? incomplete();
  if (!(buf[0] === 0x48 && buf[1] === 0x54 && buf[2] === 0x54 && buf[3] === 0x50 && buf[4] === 0x2f && buf[5] === 0x31 &&
    buf[6] === 0x2e && (buf[7] === 0x31 || buf[7] === 0x30) && buf[8] === SP)) {
    return fail('invalid status line');
  }
  const versionMinor = buf[7] === 0x31 ? 1 : 0;
  const d0 = buf[9] - 0x30;
  const d1 = buf[10] - 0x30;
  const d2 = buf[11] - 0x30;
  if (d0 < 1 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return fail('invalid status code');
  const status = d0 * 100 + d1 * 10 + d2;
  let i = 12;
  let reasonStart = i;
  if (buf[i] === SP) {
    reasonStart = ++i;
    while (i < lim && isValue[buf[i]] > 0) i++;
  }
  const reasonEnd = i;
  if (i + 1 >= lim) return i < lim && buf[i] !== CR ? fail('invalid reason phrase') : incomplete();
  if (buf[i] !== CR || buf[i + 1] !== LF) return fail(buf[i] === LF ? 'bare LF in head' : 'invalid status line');
  let pos = i + 2;

  // ---- field lines
  let count = 0;
  let contentLength = -1;
  let transferEncoding = false;
  let chunkedCount = 0;
  let lastChunked = false;
  let otherCoding = false;
  let connection = 0;
  let end: number;
  for (;;) {
    if (pos === lim) return incomplete();
    let c = buf[pos];
    if (c === CR) {
      if (pos + 1 === lim) return incomplete();
      if (buf[pos + 1] !== LF) return fail('bare CR in head');
      end = pos + 2;
      break;
    }
    const nameStart = pos;
    while (pos < lim && isTchar[buf[pos]] > 0) pos++;
    if (pos === lim) return incomplete();
    c = buf[pos];
    if (c !== COLON || pos === nameStart) {
      if (pos === nameStart && (c === SP || c === HT)) return fail('obsolete line folding');
      if (c === SP || c === HT) return fail('whitespace before colon');
      return fail(c === LF ? 'bare LF in head' : 'invalid header name');
    }
    const nameEnd = pos++;
    while (pos < lim && ((c = buf[pos]) === SP || c === HT)) pos++;
    const valueStart = pos;
    while (pos < lim && isValue[buf[pos]] > 0) pos++;
    if (pos + 1 >= lim) {
      if (pos < lim && buf[pos] !== CR) return fail(buf[pos] === LF ? 'bare LF in head' : 'invalid header value');
      return incomplete();
    }
    if (buf[pos] !== CR) return fail(buf[pos] === LF ? 'bare LF in head' : 'invalid header value');
    if (buf[pos + 1] !== LF) return fail('bare CR in head');
    let valueEnd = pos;
    while (valueEnd > valueStart && ((c = buf[valueEnd - 1]) === SP || c === HT)) valueEnd--;
    pos += 2;

    switch (nameEnd - nameStart) {
      case 10:
        if (equalsIgnoreCase(buf, nameStart, nameEnd, NAME_CONNECTION)) connection |= listFlags(buf, valueStart, valueEnd);
        break;
      case 14:
        if (equalsIgnoreCase(buf, nameStart, nameEnd, NAME_CONTENT_LENGTH)) {
          const n = parseContentLength(buf, valueStart, valueEnd);
          if (n === -1) return fail('invalid Content-Length');
          if (contentLength !== -1 && n !== contentLength) return fail('conflicting Content-Length values');
          contentLength = n;
        }
        break;
      case 17:
        if (equalsIgnoreCase(buf, nameStart, nameEnd, NAME_TRANSFER_ENCODING)) {
          const r = parseTransferEncoding(buf, valueStart, valueEnd);
          if (r === -1) return fail('invalid Transfer-Encoding');
          transferEncoding = true;
          chunkedCount += r >> 2;
          if ((r & 2) !== 0) otherCoding = true;
          lastChunked = (r & 1) === 1;
        }
        break;
    }
    const o = count * 4;
    offsets[o] = nameStart;
    offsets[o + 1] = nameEnd;
    offsets[o + 2] = valueStart;
    offsets[o + 3] = valueEnd;
    count++;
  }

  // ---- framing (RFC 9112 §6.3), refusing what a proxy cannot pass on safely
  let bodyLength = contentLength === -1 ? UNTIL_CLOSE : contentLength;
  if (transferEncoding) {
    if (contentLength !== -1) return fail('both Content-Length and Transfer-Encoding');
    if (chunkedCount > 1) return fail('chunked applied more than once');
    // A coding the gateway does not decode would reach the client unlabelled once the
    // hop-by-hop Transfer-Encoding is dropped.
    if (otherCoding || !lastChunked) return fail('transfer coding other than chunked');
    bodyLength = CHUNKED;
  }
  const keepAlive = bodyLength !== UNTIL_CLOSE && (connection & F_CLOSE) === 0 &&
    (versionMinor === 1 || (connection & F_KEEP_ALIVE) !== 0);

  const text = (buf as Latin1Buffer).latin1Slice(0, end);
  const rawHeaders: string[] = new Array<string>(count * 2);
  for (let j = 0; j < count; j++) {
    const o = j * 4;
    rawHeaders[j * 2] = text.slice(offsets[o], offsets[o + 1]);
    rawHeaders[j * 2 + 1] = offsets[o + 2] === offsets[o + 3] ? '' : text.slice(offsets[o + 2], offsets[o + 3]);
  }
  return {
    ok: true,
    head: {
      status,
      reason: reasonStart === reasonEnd ? '' : text.slice(reasonStart, reasonEnd),
      versionMinor,
      rawHeaders,
      bodyLength,
      keepAlive,
      upgrade: (connection & F_UPGRADE) !== 0,
    },
    consumed: end,
  };
}

// "HTTP/1.x SP ddd": what an incomplete status line may still become.
const STATUS_PREFIX = [0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e, -1, SP, -2, -2, -2];

/** Rejects the first n (< 13) bytes when they cannot start a status line. */
function prefixError(buf: Buffer, n: number): ResponseHeadResult | undefined {
  for (let k = 0; k < n && k < STATUS_PREFIX.length; k++) {
    const c = buf[k];
    const want = STATUS_PREFIX[k];
    if (want === -1 ? c !== 0x30 && c !== 0x31 : want === -2 ? !(c >= 0x30 && c <= 0x39) : c !== want) {
      return fail(k >= 9 ? 'invalid status code' : 'invalid status line');
    }
  }
  return undefined;
}

function fail(reason: string): ResponseHeadResult {
  return { ok: false, reason };
}
