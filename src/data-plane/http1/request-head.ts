// Strict, allocation-lean HTTP/1.1 request-head parser (RFC 9112 §2-§3, §5-§6; RFC 9110 §5).
//
// One forward pass over the bytes, driven by 256-entry lookup tables, validates the head and
// records where each part lies; it also notices an incomplete head (returns undefined) and
// rejects what can never become valid as soon as it arrives. Only once the blank line is seen
// are strings made: a single latin1 conversion of the whole head (one native call), then cheap
// String.slice()s of it for the url and each value (a native slice per string costs ~10x more).
// The standard methods and the common header names are returned as interned constants.

import * as chars from './chars.js';
import { equalsIgnoreCase, F_CLOSE, F_CONTINUE, F_KEEP_ALIVE, F_UPGRADE, listFlags, parseContentLength, parseTransferEncoding } from './field-values.js';

// The byte-class tables as module constants. Hot loops re-bind them to function locals: V8
// reads an imported binding through its module cell on every access, which made the byte
// scans ~30% slower (measured).
const TCHAR = chars.TCHAR;
const TARGET = chars.TARGET;
const VALUE = chars.VALUE;
const HOST = chars.HOST;

export interface RequestHead {
  /** Request method, token characters only, case kept ('GET'). */
  method: string;
  /** The request-target exactly as sent (origin-form, absolute-form, '*'). */
  url: string;
  versionMinor: 0 | 1;
  /** [name, value, name, value, …] in order received; names keep their case, values are OWS-trimmed. */
  rawHeaders: string[];
  /** node's IncomingMessage.headers semantics (lower-case keys, node's duplicate handling). */
  headers: Record<string, string | string[]>;
  /** -1 = a chunked body follows; otherwise the Content-Length (0 = no body). */
  bodyLength: number;
  keepAlive: boolean;
  /** An Upgrade header is present and Connection has an 'upgrade' token. */
  upgrade: boolean;
  /** Expect: 100-continue on an HTTP/1.1 request (RFC 9110 §10.1.1: ignored for HTTP/1.0). */
  expectContinue: boolean;
}

export type HeadResult =
  | { ok: true; head: RequestHead; consumed: number }
  | { ok: false; status: 400 | 431 | 501 | 505; reason: string };

// Bytes
const HT = 9;
const LF = 10;
const CR = 13;
const SP = 32;
const COMMA = 44;
const COLON = 58;

// Buffer.prototype.latin1Slice exists on every supported node (>= 20) but is not in @types/node.
// It skips the argument normalisation of toString('latin1', a, b).
interface Latin1Buffer extends Buffer {
  latin1Slice(start: number, end: number): string;
}

// ---------------------------------------------------------------------------------------------
// Known header names

// How node's IncomingMessage combines duplicates of a field.
const JOIN_LIST = 0; // ', '
const JOIN_FIRST = 1; // later duplicates discarded
const JOIN_COOKIE = 2; // '; '
const JOIN_ARRAY = 3; // string[] (set-cookie)

// Fields the parser itself interprets.
const K_NONE = 0;
const K_HOST = 1;
const K_CONTENT_LENGTH = 2;
const K_TRANSFER_ENCODING = 3;
const K_CONNECTION = 4;
const K_UPGRADE = 5;
const K_EXPECT = 6;

interface KnownName {
  readonly lower: string;
  readonly canonical: string;
  readonly lowerBytes: Uint8Array;
  /** Bit k set = byte k of the canonical spelling is an upper-case letter. */
  readonly canonicalUpper: number;
  readonly join: number;
  readonly kind: number;
  /** Next known name in the same hash slot. */
  readonly next: KnownName | undefined;
  /** Generation of the last parse that stored this field (skips the lookup of a previous value). */
  seen: number;
}

// node 20 lib/_http_incoming.js matchKnownFields: the fields whose later duplicates are dropped.
const FIRST_WINS = new Set([
  'age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host',
  'if-modified-since', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards',
  'proxy-authorization', 'referer', 'retry-after', 'server', 'user-agent',
]);

const KINDS: Record<string, number> = {
  host: K_HOST,
  'content-length': K_CONTENT_LENGTH,
  'transfer-encoding': K_TRANSFER_ENCODING,
  connection: K_CONNECTION,
  upgrade: K_UPGRADE,
  expect: K_EXPECT,
};

// Canonical spelling = what browsers / common clients send when not lower-case (HTTP/2-style
// clients send lower-case, which is always recognised too). Any other casing is still matched
// case-insensitively, it just costs a slice of the buffer for rawHeaders.
const KNOWN_NAMES = [
  'Host', 'User-Agent', 'Accept', 'Accept-Encoding', 'Accept-Language', 'Accept-Charset',
  'Connection', 'Keep-Alive', 'Content-Length', 'Content-Type', 'Content-Encoding',
  'Transfer-Encoding', 'TE', 'Trailer', 'Upgrade', 'Expect', 'Cookie', 'Set-Cookie',
  'Authorization', 'Proxy-Authorization', 'Proxy-Connection', 'Origin', 'Referer',
  'Cache-Control', 'Pragma', 'If-None-Match', 'If-Match', 'If-Modified-Since',
  'If-Unmodified-Since', 'If-Range', 'Range', 'Forwarded', 'X-Forwarded-For',
  'X-Forwarded-Proto', 'X-Forwarded-Host', 'X-Forwarded-Port', 'X-Real-IP', 'X-Request-ID',
  'X-Requested-With', 'Via', 'Date', 'Age', 'ETag', 'Expires', 'From', 'Last-Modified',
  'Location', 'Max-Forwards', 'Retry-After', 'Server', 'DNT', 'Priority',
  'Upgrade-Insecure-Requests', 'Sec-Fetch-Site', 'Sec-Fetch-Mode', 'Sec-Fetch-Dest',
  'Sec-Fetch-User', 'Sec-CH-UA', 'Sec-CH-UA-Mobile', 'Sec-CH-UA-Platform',
  'Sec-WebSocket-Key', 'Sec-WebSocket-Version', 'Sec-WebSocket-Extensions',
  'Sec-WebSocket-Protocol', 'Traceparent', 'Tracestate', 'X-Api-Key',
];

const KNOWN_SLOTS = 256;
/** Hash of a name from its length and its first and last bytes (case-folded): no per-byte work. */
function knownSlot(length: number, first: number, last: number): number {
  return (length * 31 + first * 7 + last) & (KNOWN_SLOTS - 1);
}

const KNOWN_TABLE: (KnownName | undefined)[] = new Array<KnownName | undefined>(KNOWN_SLOTS).fill(undefined);
const KNOWN_MAX_LENGTH = Math.max(...KNOWN_NAMES.map((name) => name.length));
for (const canonical of KNOWN_NAMES) {
  const lower = canonical.toLowerCase();
  let canonicalUpper = 0;
  for (let k = 0; k < canonical.length; k++) {
    const c = canonical.charCodeAt(k);
    if (c >= 0x41 && c <= 0x5a) canonicalUpper |= 1 << k;
  }
  const slot = knownSlot(lower.length, lower.charCodeAt(0), lower.charCodeAt(lower.length - 1));
  KNOWN_TABLE[slot] = {
    lower,
    canonical,
    lowerBytes: Buffer.from(lower, 'latin1'),
    canonicalUpper,
    join: lower === 'set-cookie' ? JOIN_ARRAY : lower === 'cookie' ? JOIN_COOKIE : FIRST_WINS.has(lower) ? JOIN_FIRST : JOIN_LIST,
    kind: KINDS[lower] ?? K_NONE,
    next: KNOWN_TABLE[slot],
    seen: 0,
  };
}

// How the received spelling of a matched name relates to the known name.
const CASE_LOWER = 0;
const CASE_CANONICAL = 1;
const CASE_OTHER = 2;

/**
 * Case-insensitive lookup of buf[s, e) among the known names; buf[s, e) has already been
 * validated as a token. Only letters are folded: the known names contain nothing but letters and '-', and for a token
 * byte b, `b | 0x20` can only equal a lower-case letter l if b is l or its upper-case form
 * (and can only equal '-' if b is '-').
 */
function findKnown(buf: Buffer, s: number, e: number): KnownName | undefined {
  const n = e - s;
  if (n > KNOWN_MAX_LENGTH) return undefined;
  let known = KNOWN_TABLE[knownSlot(n, buf[s] | 0x20, buf[e - 1] | 0x20)];
  while (known !== undefined) {
    const lb = known.lowerBytes;
    if (lb.length === n) {
      let k = 0;
      while (k < n && (buf[s + k] | 0x20) === lb[k]) k++;
      if (k === n) return known;
    }
    known = known.next;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Small byte helpers

const GET_BYTES = Buffer.from('GET');
const PUT_BYTES = Buffer.from('PUT');
const POST_BYTES = Buffer.from('POST');
const HEAD_BYTES = Buffer.from('HEAD');
const PATCH_BYTES = Buffer.from('PATCH');
const DELETE_BYTES = Buffer.from('DELETE');
const OPTIONS_BYTES = Buffer.from('OPTIONS');
const CONNECT_BYTES = Buffer.from('CONNECT');

function bytesEqual(buf: Buffer, s: number, bytes: Uint8Array): boolean {
  for (let k = 0; k < bytes.length; k++) if (buf[s + k] !== bytes[k]) return false;
  return true;
}

/** The standard methods as constants, else undefined. */
function standardMethod(buf: Buffer, s: number, e: number): string | undefined {
  switch (e - s) {
    case 3:
      if (bytesEqual(buf, s, GET_BYTES)) return 'GET';
      if (bytesEqual(buf, s, PUT_BYTES)) return 'PUT';
      break;
    case 4:
      if (bytesEqual(buf, s, POST_BYTES)) return 'POST';
      if (bytesEqual(buf, s, HEAD_BYTES)) return 'HEAD';
      break;
    case 5:
      if (bytesEqual(buf, s, PATCH_BYTES)) return 'PATCH';
      break;
    case 6:
      if (bytesEqual(buf, s, DELETE_BYTES)) return 'DELETE';
      break;
    case 7:
      if (bytesEqual(buf, s, OPTIONS_BYTES)) return 'OPTIONS';
      if (bytesEqual(buf, s, CONNECT_BYTES)) return 'CONNECT';
      break;
  }
  return undefined;
}

const HTTP_SCHEME = Buffer.from('http://');
const HTTPS_SCHEME = Buffer.from('https://');

/** Where the authority starts after an `http://` or `https://` (any case) at buf[s], else -1. */
function absoluteSchemeEnd(buf: Buffer, s: number, e: number): number {
  if (e - s > 7 && equalsIgnoreCase(buf, s, s + 7, HTTP_SCHEME)) return s + 7;
  if (e - s > 8 && equalsIgnoreCase(buf, s, s + 8, HTTPS_SCHEME)) return s + 8;
  return -1;
}

/** The path and query of an absolute-form target: `/` when the path is empty, no fragment. */
function originForm(rest: string): string {
  const hash = rest.indexOf('#');
  if (hash !== -1) rest = rest.slice(0, hash);
  if (rest === '') return '/';
  return rest.charCodeAt(0) === 0x3f ? '/' + rest : rest;
}

function fail(status: 400 | 431 | 501 | 505, reason: string): HeadResult {
  return { ok: false, status, reason };
}

function tooLarge(): HeadResult {
  return fail(431, 'request header fields too large');
}

// HTTP-version = "HTTP/" DIGIT "." DIGIT, then CRLF ends the request-line (-1 = a digit).
const VERSION_LINE = [0x48, 0x54, 0x54, 0x50, 0x2f, -1, 0x2e, -1, CR, LF];

/** Checks the first n (<= 10) bytes of "HTTP/x.y\r\n" at buf[i]. */
function versionLineError(buf: Buffer, i: number, n: number): HeadResult | undefined {
  for (let k = 0; k < n; k++) {
    const c = buf[i + k];
    const want = VERSION_LINE[k];
    if (k < 8) {
      if (want === -1 ? !(c >= 0x30 && c <= 0x39) : c !== want) return fail(400, 'invalid HTTP version');
    } else if (c !== want) {
      if (k === 9) return fail(400, 'bare CR in head');
      return fail(400, c === LF ? 'bare LF in head' : 'invalid request line');
    }
  }
  return undefined;
}

// Scratch space for the first pass (parsing is synchronous, so one set serves every call):
// per header line its byte offsets, its known name (or undefined) and CASE_* (known) or
// whether it has upper-case letters (unknown).
const spans: number[] = [];
const knownAt: (KnownName | undefined)[] = [];
const caseAt: number[] = [];
let generation = 0;

// ---------------------------------------------------------------------------------------------

/**
 * Parses the request head at the start of `buf`. Returns undefined when the head is not
 * complete yet and still fits in maxHeaderSize; 431 once more than maxHeaderSize bytes arrived
 * without the end of the head (or the complete head is larger than maxHeaderSize). The size
 * counts every byte up to and including the blank line, leading empty lines included. Bytes
 * that can never start a valid head are rejected as soon as they arrive, complete or not.
 */
export function parseRequestHead(buf: Buffer, maxHeaderSize: number): HeadResult | undefined {
  const isTchar = TCHAR;
  const isTarget = TARGET;
  const isValue = VALUE;
  const isHost = HOST;
  const offsets = spans;
  const knowns = knownAt;
  const cases = caseAt;
  const len = buf.length;
  // Bytes past maxHeaderSize are never looked at: running into `lim` means "too large" when
  // more bytes did arrive, else "not complete yet".
  const lim = len < maxHeaderSize ? len : maxHeaderSize;

  // RFC 9112 §2.2: ignore empty lines before the request-line.
  let start = 0;
  while (start < lim && buf[start] === CR) {
    if (start + 1 === lim) return len > maxHeaderSize ? tooLarge() : undefined;
    if (buf[start + 1] !== LF) return fail(400, 'bare CR in head');
    start += 2;
  }

  // ---- request-line = method SP request-target SP HTTP-version CRLF
  let i = start;
  while (i < lim && isTchar[buf[i]] > 0) i++;
  if (i === lim) return len > maxHeaderSize ? tooLarge() : undefined;
  if (i === start || buf[i] !== SP) return fail(400, buf[i] === LF ? 'bare LF in head' : 'invalid method');
  const methodEnd = i;
  const targetStart = ++i;
  while (i < lim && isTarget[buf[i]] > 0) i++;
  if (i === lim) return len > maxHeaderSize ? tooLarge() : undefined;
  if (i === targetStart) return fail(400, 'invalid request-target');
  if (buf[i] !== SP) {
    if (buf[i] === CR) return fail(400, 'missing HTTP version');
    return fail(400, buf[i] === LF ? 'bare LF in head' : 'invalid request-target');
  }
  const targetEnd = i++;
  // RFC 9112 §3.2.2: an absolute-form target's authority replaces the Host header.
  let authorityStart = -1;
  let authorityEnd = -1;
  let pathStart = targetStart;
  if (buf[targetStart] !== 0x2f) {
    const schemeEnd = absoluteSchemeEnd(buf, targetStart, targetEnd);
    if (schemeEnd !== -1) {
      authorityStart = schemeEnd;
      let k = schemeEnd;
      while (k < targetEnd && buf[k] !== 0x2f && buf[k] !== 0x3f && buf[k] !== 0x23) {
        if (isHost[buf[k]] === 0) return fail(400, buf[k] === 0x40 ? 'userinfo in request-target' : 'invalid request-target authority');
        k++;
      }
      if (k === authorityStart) return fail(400, 'empty authority in request-target');
      authorityEnd = pathStart = k;
    }
  }
  if (lim - i < 10) {
    return versionLineError(buf, i, lim - i) ?? (len > maxHeaderSize ? tooLarge() : undefined);
  }
  let versionMinor: 0 | 1;
  if (
    buf[i] === 0x48 && buf[i + 1] === 0x54 && buf[i + 2] === 0x54 && buf[i + 3] === 0x50 && buf[i + 4] === 0x2f &&
    buf[i + 5] === 0x31 && buf[i + 6] === 0x2e && (buf[i + 7] === 0x31 || buf[i + 7] === 0x30) && buf[i + 8] === CR && buf[i + 9] === LF
  ) {
    versionMinor = buf[i + 7] === 0x31 ? 1 : 0; // "HTTP/1.1\r\n" or "HTTP/1.0\r\n"
  } else {
    return versionLineError(buf, i, 10) ?? fail(505, 'HTTP version not supported');
  }
  const knownMethod = standardMethod(buf, start, methodEnd);
  if (knownMethod === 'CONNECT') return fail(501, 'CONNECT not supported');

  // ---- field lines, validated and interpreted from their bytes; no strings yet
  let count = 0;
  let hosts = 0;
  let contentLength = -1;
  let transferEncoding = false;
  let chunkedCount = 0;
  let lastChunked = false;
  let otherCoding = false;
  let connection = 0;
  let hasUpgrade = false;
  let expect = 0;

  let pos = i + 10;
  let end: number;
  // The value scan is the hottest loop. When the last byte we may look at is not a field-value
  // byte (typically the LF that ends the head) the scan stops there at the latest, so it can
  // skip the bounds check (~10% faster on long values).
  const valueScanStops = isValue[buf[lim - 1]] === 0;
  for (;;) {
    if (pos === lim) return len > maxHeaderSize ? tooLarge() : undefined;
    let c = buf[pos];
    if (c === CR) {
      if (pos + 1 === lim) return len > maxHeaderSize ? tooLarge() : undefined;
      if (buf[pos + 1] !== LF) return fail(400, 'bare CR in head');
      end = pos + 2;
      break;
    }
    // field-name = token, immediately followed by ':'
    const nameStart = pos;
    let upper = 0;
    let t: number;
    while (pos < lim && (t = isTchar[buf[pos]]) > 0) {
      upper |= (t >> 1) << (pos - nameStart); // bit k: byte k is upper-case (wraps past 31: still non-zero)
      pos++;
    }
    if (pos === lim) return len > maxHeaderSize ? tooLarge() : undefined;
    c = buf[pos];
    if (c !== COLON || pos === nameStart) {
      if (c === LF) return fail(400, 'bare LF in head');
      if (pos === nameStart) {
        if (c === SP || c === HT) return fail(400, 'obsolete line folding');
        return fail(400, c === COLON ? 'empty header name' : 'invalid header name');
      }
      if (c === SP || c === HT) return fail(400, 'whitespace before colon');
      if (c === CR) return fail(400, 'missing colon in header line');
      return fail(400, 'invalid header name');
    }
    const nameEnd = pos++;

    // OWS field-value OWS CRLF
    while (pos < lim && ((c = buf[pos]) === SP || c === HT)) pos++;
    const valueStart = pos;
    if (valueScanStops) while (isValue[buf[pos]] > 0) pos++;
    else while (pos < lim && isValue[buf[pos]] > 0) pos++;
    if (pos + 1 >= lim) {
      if (pos < lim && buf[pos] !== CR) return fail(400, buf[pos] === LF ? 'bare LF in head' : 'invalid header value');
      return len > maxHeaderSize ? tooLarge() : undefined;
    }
    if (buf[pos] !== CR) return fail(400, buf[pos] === LF ? 'bare LF in head' : 'invalid header value');
    if (buf[pos + 1] !== LF) return fail(400, 'bare CR in head');
    let valueEnd = pos;
    while (valueEnd > valueStart && ((c = buf[valueEnd - 1]) === SP || c === HT)) valueEnd--;
    pos += 2;

    const known = findKnown(buf, nameStart, nameEnd);
    if (known !== undefined) {
      cases[count] = upper === 0 ? CASE_LOWER : upper === known.canonicalUpper ? CASE_CANONICAL : CASE_OTHER;
      switch (known.kind) {
        case K_NONE:
          break;
        case K_HOST:
          if (++hosts > 1) return fail(400, 'multiple Host headers');
          if (authorityStart !== -1) break; // replaced by the target's authority
          for (let k = valueStart; k < valueEnd; k++) {
            if (isHost[buf[k]] === 0) return fail(400, 'invalid Host header');
          }
          break;
        case K_CONTENT_LENGTH: {
          const n = parseContentLength(buf, valueStart, valueEnd);
          if (n === -1) return fail(400, 'invalid Content-Length');
          if (contentLength !== -1 && n !== contentLength) return fail(400, 'conflicting Content-Length values');
          contentLength = n;
          break;
        }
        case K_TRANSFER_ENCODING: {
          const r = parseTransferEncoding(buf, valueStart, valueEnd);
          if (r === -1) return fail(400, 'invalid Transfer-Encoding');
          transferEncoding = true;
          chunkedCount += r >> 2;
          if ((r & 2) !== 0) otherCoding = true;
          lastChunked = (r & 1) === 1;
          break;
        }
        case K_CONNECTION:
          connection |= listFlags(buf, valueStart, valueEnd);
          break;
        case K_UPGRADE:
          hasUpgrade = true;
          break;
        case K_EXPECT:
          expect |= listFlags(buf, valueStart, valueEnd);
          break;
      }
    } else {
      cases[count] = upper;
    }
    knowns[count] = known;
    const o = count * 4;
    offsets[o] = nameStart;
    offsets[o + 1] = nameEnd;
    offsets[o + 2] = valueStart;
    offsets[o + 3] = valueEnd;
    count++;
  }

  // ---- message framing and connection semantics
  if (versionMinor === 1 && hosts === 0) return fail(400, 'missing Host header');
  let bodyLength = contentLength === -1 ? 0 : contentLength;
  if (transferEncoding) {
    if (contentLength !== -1) return fail(400, 'both Content-Length and Transfer-Encoding');
    if (versionMinor === 0) return fail(400, 'Transfer-Encoding in an HTTP/1.0 request');
    if (chunkedCount > 1) return fail(400, 'chunked applied more than once');
    if (!lastChunked) return fail(400, 'unsupported transfer coding');
    // gzip etc. under chunked: the proxy forwards bodies de-chunked with Content-Length or
    // its own chunking, so a coding it does not decode would reach the upstream unlabelled.
    if (otherCoding) return fail(501, 'transfer coding other than chunked not implemented');
    bodyLength = -1;
  }
  const keepAlive = (connection & F_CLOSE) === 0 && (versionMinor === 1 || (connection & F_KEEP_ALIVE) !== 0);

  // ---- strings: one native conversion, then slices of it
  const text = (buf as Latin1Buffer).latin1Slice(start, end);
  const method = knownMethod ?? text.slice(0, methodEnd - start);
  let url: string;
  if (targetEnd - targetStart === 1 && buf[targetStart] === 0x2f) url = '/';
  else if (authorityStart === -1) url = text.slice(targetStart - start, targetEnd - start);
  else url = originForm(text.slice(pathStart - start, targetEnd - start));
  const authority = authorityStart === -1 ? undefined : text.slice(authorityStart - start, authorityEnd - start);
  const rawHeaders: string[] = [];
  const headers: Record<string, string | string[]> = {};
  const gen = ++generation;
  for (let j = 0; j < count; j++) {
    const o = j * 4;
    const valueStart = offsets[o + 2];
    const valueEnd = offsets[o + 3];
    const known = knowns[j];
    let value = valueStart === valueEnd ? '' : text.slice(valueStart - start, valueEnd - start);
    if (known !== undefined && known.kind >= K_HOST && known.kind <= K_CONTENT_LENGTH) {
      if (known.kind === K_HOST) {
        if (authority !== undefined) value = authority;
      } else {
        // Repeated or listed equal lengths (RFC 9110 §8.6) become one field with one value,
        // so nothing downstream meets the duplicates.
        if (known.seen === gen) continue;
        value = String(contentLength);
      }
    }
    let name: string;
    if (known !== undefined) {
      const matched = cases[j];
      name =
        matched === CASE_LOWER ? known.lower : matched === CASE_CANONICAL ? known.canonical : text.slice(offsets[o] - start, offsets[o + 1] - start);
      const key = known.lower;
      const join = known.join;
      if (known.seen !== gen) {
        // first occurrence in this head
        known.seen = gen;
        headers[key] = join === JOIN_ARRAY ? [value] : value;
      } else if (join === JOIN_LIST) {
        headers[key] = (headers[key] as string) + ', ' + value;
      } else if (join === JOIN_COOKIE) {
        headers[key] = (headers[key] as string) + '; ' + value;
      } else if (join === JOIN_ARRAY) {
        (headers[key] as string[]).push(value);
      } // JOIN_FIRST: later duplicates are dropped
    } else {
      name = text.slice(offsets[o] - start, offsets[o + 1] - start);
      const key = cases[j] !== 0 ? name.toLowerCase() : name;
      // node's _addHeaderLine: `typeof dest[field] === 'string'` (so '__proto__' and friends
      // behave exactly as they do in node: the inherited value is never joined onto)
      const prev = headers[key];
      headers[key] = typeof prev === 'string' ? prev + ', ' + value : value;
    }
    rawHeaders.push(name, value);
  }
  if (authority !== undefined && hosts === 0) {
    // HTTP/1.0 without Host: the target's authority is the host all the same.
    rawHeaders.push('Host', authority);
    headers.host = authority;
  }

  return {
    ok: true,
    head: {
      method,
      url,
      versionMinor,
      rawHeaders,
      headers,
      bodyLength,
      keepAlive,
      upgrade: hasUpgrade && (connection & F_UPGRADE) !== 0,
      expectContinue: versionMinor === 1 && (expect & F_CONTINUE) !== 0,
    },
    consumed: end,
  };
}
