import { randomFillSync } from 'node:crypto';

// Trace and span ids as lower-case hex, the form W3C trace context, B3 headers and the
// log variables carry (OTLP's bytes are made from it when a batch is encoded, off the
// request path). Random bytes come from one pooled buffer refilled by the CSPRNG: one
// system call per few hundred ids rather than one per id.

const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let used = POOL_BYTES;

function randomHex(bytes: number): string {
  if (used + bytes > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  const hex = pool.toString('hex', used, used + bytes);
  used += bytes;
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
