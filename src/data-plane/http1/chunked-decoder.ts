// Incremental decoder for the chunked transfer coding (RFC 9112 §7.1).
//
//   chunked-body = *chunk last-chunk trailer-section CRLF
//   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//   chunk-size   = 1*HEXDIG
//   last-chunk   = 1*("0") [ chunk-ext ] CRLF
//   chunk-ext    = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//
// A byte-at-a-time state machine for the framing lines; chunk data is handed out in bulk as
// subarrays of the input (no copies). Any split of the input across feed() calls gives the
// same data and the same result. Extensions are skipped without interpretation: only their
// bytes (field-value bytes, no controls) and the line length are checked. Trailer fields are
// validated (`token ":" field-value`, no obs-fold) and discarded.

import * as chars from './chars.js';

// Module constants, re-bound as locals in feed(): an imported binding is read through its
// module cell on every access in a loop.
const HEX = chars.HEX;
const TCHAR = chars.TCHAR;
const VALUE = chars.VALUE;

const HT = 9;
const LF = 10;
const CR = 13;
const SP = 32;
const COLON = 58;
const SEMICOLON = 59;

// States
const S_SIZE = 0; // in chunk-size hex digits
const S_SIZE_WS = 1; // BWS after the size: only ';' may follow
const S_EXT = 2; // inside chunk extensions, up to CR
const S_SIZE_LF = 3; // CR of the size line seen
const S_DATA = 4; // inside chunk-data
const S_DATA_CR = 5; // expecting the CR after chunk-data
const S_DATA_LF = 6; // expecting the LF after chunk-data
const S_TRAILER_START = 7; // at the start of a trailer line (or the final CRLF)
const S_TRAILER_NAME = 8; // inside a trailer field-name
const S_TRAILER_VALUE = 9; // after the ':' of a trailer field
const S_TRAILER_LF = 10; // CR of a trailer line seen
const S_FINAL_LF = 11; // CR of the final empty line seen
const S_DONE = 12;
const S_ERROR = 13;

const MAX_SIZE_DIGITS = 16;

export interface ChunkedDecoderLimits {
  /** Longest chunk-size line (extensions included) and longest trailer line, CRLF excluded. Default 4096. */
  maxLineLength?: number;
  /** Total bytes of the trailer section (every trailer line with its CRLF; not the final CRLF). Default 16384. */
  maxTrailerBytes?: number;
}

export class ChunkedDecoder {
  error: string | undefined = undefined;

  private state = S_SIZE;
  /** Bytes of chunk-data still to come in the current chunk; while in S_SIZE, the size so far. */
  private remaining = 0;
  private digits = 0;
  private lineLength = 0;
  private trailerBytes = 0;
  private readonly maxLineLength: number;
  private readonly maxTrailerBytes: number;

  constructor(limits?: ChunkedDecoderLimits) {
    this.maxLineLength = limits?.maxLineLength ?? 4096;
    this.maxTrailerBytes = limits?.maxTrailerBytes ?? 16384;
  }

  /** The last chunk, the trailer section and the final CRLF have all been consumed. */
  get done(): boolean {
    return this.state === S_DONE;
  }

  /**
   * Decodes as much of buf as belongs to this body, calling onData with subarrays of buf for
   * chunk data (never empty). Returns the bytes of buf consumed: buf.length unless the body
   * ended inside buf (the rest belongs to the next message); 0 once done. On malformed input
   * sets `error` and returns -1 (data before the error may already have been delivered);
   * every later call returns -1 too.
   */
  feed(buf: Buffer, onData: (data: Buffer) => void): number {
    let state = this.state;
    if (state === S_ERROR) return -1;
    if (state === S_DONE) return 0;
    const hex = HEX;
    const isTchar = TCHAR;
    const isValue = VALUE;
    const len = buf.length;
    let i = 0;
    while (i < len) {
      if (state === S_DATA) {
        const avail = len - i;
        const remaining = this.remaining;
        if (avail < remaining) {
          this.remaining = remaining - avail;
          onData(buf.subarray(i, len));
          i = len;
          break;
        }
        onData(buf.subarray(i, i + remaining));
        i += remaining;
        this.remaining = 0;
        state = S_DATA_CR;
        continue;
      }
      const c = buf[i++];
      switch (state) {
        case S_SIZE: {
          const h = hex[c];
          if (h !== 0) {
            if (++this.digits > MAX_SIZE_DIGITS) return this.fail('chunk size too long');
            const size = this.remaining * 16 + (h - 1);
            if (size > Number.MAX_SAFE_INTEGER) return this.fail('chunk size too large');
            this.remaining = size;
            this.lineLength++;
            break;
          }
          if (this.digits === 0) return this.fail('invalid chunk size');
          if (c === CR) {
            state = S_SIZE_LF;
          } else if (c === SEMICOLON) {
            state = S_EXT;
            if (++this.lineLength > this.maxLineLength) return this.fail('chunk size line too long');
          } else if (c === SP || c === HT) {
            state = S_SIZE_WS;
            if (++this.lineLength > this.maxLineLength) return this.fail('chunk size line too long');
          } else {
            return this.fail(c === LF ? 'bare LF in chunked body' : 'invalid chunk size');
          }
          break;
        }
        case S_SIZE_WS:
          if (++this.lineLength > this.maxLineLength) return this.fail('chunk size line too long');
          if (c === SEMICOLON) state = S_EXT;
          else if (c !== SP && c !== HT) return this.fail('invalid chunk size');
          break;
        case S_EXT:
          if (c === CR) {
            state = S_SIZE_LF;
          } else if (isValue[c] !== 0) {
            if (++this.lineLength > this.maxLineLength) return this.fail('chunk size line too long');
          } else {
            return this.fail(c === LF ? 'bare LF in chunked body' : 'invalid chunk extension');
          }
          break;
        case S_SIZE_LF:
          if (c !== LF) return this.fail('bare CR in chunked body');
          this.lineLength = 0;
          this.digits = 0;
          if (this.remaining === 0) {
            state = S_TRAILER_START;
          } else {
            state = S_DATA;
          }
          break;
        case S_DATA_CR:
          if (c !== CR) return this.fail(c === LF ? 'bare LF in chunked body' : 'missing CRLF after chunk data');
          state = S_DATA_LF;
          break;
        case S_DATA_LF:
          if (c !== LF) return this.fail('bare CR in chunked body');
          state = S_SIZE;
          break;
        case S_TRAILER_START:
          if (c === CR) {
            state = S_FINAL_LF;
            break;
          }
          if (isTchar[c] === 0) {
            if (c === SP || c === HT) return this.fail('obsolete line folding in trailer');
            if (c === LF) return this.fail('bare LF in chunked body');
            return this.fail('invalid trailer field name');
          }
          this.lineLength = 1;
          state = S_TRAILER_NAME;
          if (!this.countTrailer()) return -1;
          break;
        case S_TRAILER_NAME:
          if (++this.lineLength > this.maxLineLength) return this.fail('trailer line too long');
          if (!this.countTrailer()) return -1;
          if (c === COLON) state = S_TRAILER_VALUE;
          else if (isTchar[c] === 0) return this.fail(c === LF ? 'bare LF in chunked body' : 'invalid trailer field name');
          break;
        case S_TRAILER_VALUE:
          if (!this.countTrailer()) return -1;
          if (c === CR) {
            state = S_TRAILER_LF;
            break;
          }
          if (++this.lineLength > this.maxLineLength) return this.fail('trailer line too long');
          if (isValue[c] === 0) return this.fail(c === LF ? 'bare LF in chunked body' : 'invalid trailer field value');
          break;
        case S_TRAILER_LF:
          if (c !== LF) return this.fail('bare CR in chunked body');
          if (!this.countTrailer()) return -1;
          state = S_TRAILER_START;
          break;
        case S_FINAL_LF:
          if (c !== LF) return this.fail('bare CR in chunked body');
          this.state = S_DONE;
          return i;
      }
    }
    this.state = state;
    return len;
  }

  private countTrailer(): boolean {
    if (++this.trailerBytes > this.maxTrailerBytes) {
      this.fail('trailer section too large');
      return false;
    }
    return true;
  }

  private fail(reason: string): -1 {
    this.state = S_ERROR;
    this.error = reason;
    return -1;
  }
}
