// Field-value helpers shared by the HTTP/1.1 request and response parsers: the few header
// values that decide framing and connection handling, read straight from the bytes.

import { TCHAR } from './chars.js';

const HT = 9;
const SP = 32;
const COMMA = 44;

/** buf[s, e) equals `lower` (lower-case ASCII) ignoring the case of letters. */
export function equalsIgnoreCase(buf: Buffer, s: number, e: number, lower: Uint8Array): boolean {
  if (e - s !== lower.length) return false;
  for (let k = 0; k < lower.length; k++) {
    const b = buf[s + k];
    const l = lower[k];
    if (b !== l && !(l >= 0x61 && l <= 0x7a && b === l - 0x20)) return false;
  }
  return true;
}

const TOKEN_CLOSE = Buffer.from('close');
const TOKEN_KEEP_ALIVE = Buffer.from('keep-alive');
const TOKEN_UPGRADE = Buffer.from('upgrade');
const TOKEN_CONTINUE = Buffer.from('100-continue');
const TOKEN_CHUNKED = Buffer.from('chunked');

export const F_CLOSE = 1;
export const F_KEEP_ALIVE = 2;
export const F_UPGRADE = 4;
export const F_CONTINUE = 8;

/** Flags for the recognised tokens of a comma-separated list (Connection, Expect). */
export function listFlags(buf: Buffer, s: number, e: number): number {
  let flags = 0;
  let k = s;
  while (k < e) {
    const c = buf[k];
    if (c === COMMA || c === SP || c === HT) {
      k++;
      continue;
    }
    const ts = k;
    while (k < e && buf[k] !== COMMA) k++;
    let te = k;
    while (buf[te - 1] === SP || buf[te - 1] === HT) te--;
    switch (te - ts) {
      case 5:
        if (equalsIgnoreCase(buf, ts, te, TOKEN_CLOSE)) flags |= F_CLOSE;
        break;
      case 10:
        if (equalsIgnoreCase(buf, ts, te, TOKEN_KEEP_ALIVE)) flags |= F_KEEP_ALIVE;
        break;
      case 7:
        if (equalsIgnoreCase(buf, ts, te, TOKEN_UPGRADE)) flags |= F_UPGRADE;
        break;
      case 12:
        if (equalsIgnoreCase(buf, ts, te, TOKEN_CONTINUE)) flags |= F_CONTINUE;
        break;
    }
  }
  return flags;
}

/**
 * Content-Length value: 1*DIGIT, or a comma list whose members are all the same number
 * (RFC 9110 §8.6). Returns the length, or -1 when invalid.
 */
export function parseContentLength(buf: Buffer, s: number, e: number): number {
  let result = -1;
  let k = s;
  for (;;) {
    const ds = k;
    let n = 0;
    while (k < e) {
      const d = buf[k] - 0x30;
      if (d < 0 || d > 9) break;
      n = n * 10 + d;
      if (n > Number.MAX_SAFE_INTEGER) return -1;
      k++;
    }
    if (k === ds) return -1; // empty member, sign, or other junk
    if (result === -1) result = n;
    else if (n !== result) return -1;
    if (k === e) return result;
    // OWS "," OWS before the next member
    while (buf[k] === SP || buf[k] === HT) k++;
    if (buf[k] !== COMMA) return -1;
    k++;
    while (k < e && (buf[k] === SP || buf[k] === HT)) k++;
  }
}

/**
 * Transfer-Encoding value: a comma list of bare coding tokens (no empty members, no
 * parameters). Returns -1 when invalid, else (chunkedCount << 2) | (otherCoding << 1) | lastIsChunked.
 */
export function parseTransferEncoding(buf: Buffer, s: number, e: number): number {
  if (s === e) return -1;
  let chunked = 0;
  let other = 0;
  let last = 0;
  let k = s;
  for (;;) {
    const ts = k;
    while (k < e && TCHAR[buf[k]] > 0) k++;
    if (k === ts) return -1;
    if (equalsIgnoreCase(buf, ts, k, TOKEN_CHUNKED)) {
      chunked++;
      last = 1;
    } else {
      last = 0;
      other = 1;
    }
    if (k === e) return (chunked << 2) | (other << 1) | last;
    while (buf[k] === SP || buf[k] === HT) k++;
    if (buf[k] !== COMMA) return -1;
    k++;
    while (k < e && (buf[k] === SP || buf[k] === HT)) k++;
  }
}
