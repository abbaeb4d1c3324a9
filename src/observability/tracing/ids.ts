import { randomFillSync } from 'node:crypto';

// Trace and span ids as lower-case hex, the form W3C trace context, B3 headers and the
// log variables carry (OTLP's bytes are made from it when a batch is encoded, off the
// request path). Random bytes come from one pooled buffer refilled by the CSPRNG, and the
// pool is turned into hex once per refill: an id is a slice of that string (V8 keeps a
// slice as a view on it, so an id costs neither a system call nor a conversion). A pool
// string lives as long as an id sliced from it, a few kilobytes per few hundred ids.

const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let poolHex = '';
/** Hex digits of `poolHex` handed out. */
let used = 0;

function randomHex(bytes: number): string {
  const digits = bytes * 2;
  if (used + digits > poolHex.length) {
    randomFillSync(pool);
    poolHex = pool.toString('hex');
    used = 0;
  }
  const hex = poolHex.slice(used, used + digits);
  used += digits;
  return hex;
}

const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** A new 128-bit trace id, 32 hex digits, never all zeros. */
export function newTraceId(): string {
  const id = randomHex(16);
  return id === ZERO_TRACE ? newTraceId() : id;
}

/** A new 64-bit span id, 16 hex digits, never all zeros. */
export function newSpanId(): string {
  const id = randomHex(8);
  return id === ZERO_SPAN ? newSpanId() : id;
}

const HEX = /^[0-9a-f]+$/;

/** 32 lower-case hex digits, not all zeros (W3C's valid trace-id). */
export function isTraceId(s: string): boolean {
  return s.length === 32 && HEX.test(s) && s !== ZERO_TRACE;
}

/** 16 lower-case hex digits, not all zeros (W3C's valid parent-id). */
export function isSpanId(s: string): boolean {
  return s.length === 16 && HEX.test(s) && s !== ZERO_SPAN;
}
