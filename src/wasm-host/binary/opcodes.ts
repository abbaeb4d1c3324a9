// Steps over the instructions of a function body or constant expression, knowing the
// immediates of every opcode we accept: MVP, sign extension, saturating truncation, bulk
// memory and table ops (0xFC), reference types, typed function references, SIMD and relaxed
// SIMD (0xFD), threads (0xFE), tail calls and both exception-handling encodings (legacy
// try/catch/delegate and try_table/throw_ref). An opcode we do not know stops the walk with a
// WasmModuleError: guessing its immediates would mis-read everything after it.

import { ByteReader, WasmModuleError } from './bytes.js';

/** What the instrumenter needs to see while the walker steps over a body. */
export interface InstructionVisitor {
  /** A function index immediate (call, return_call, ref.func) spanning [start, end). */
  functionIndex(start: number, end: number, index: number): void;
  /** A loop's body begins at `offset` (just after its block type). */
  loopBody(offset: number): void;
  /** A legacy exception handler (after `catch tag` or `catch_all`) begins at `offset`. */
  handlerStart(offset: number): void;
  /** A try_table (exnref exception handling) starts at `offset`. */
  tryTable(offset: number): void;
}

/** Value types whose encoding is a single byte (numbers, vectors, abbreviated references). */
function isShortValueType(byte: number): boolean {
  return (byte >= 0x7b && byte <= 0x7f) || (byte >= 0x69 && byte <= 0x74);
}

function peek(r: ByteReader): number | undefined {
  return r.pos < r.limit ? r.bytes[r.pos] : undefined;
}

/** A heap type: an abbreviated one (one byte, 0x69..0x74) or a type index (s33, non-negative). */
function skipHeapType(r: ByteReader): void {
  const first = peek(r);
  if (first !== undefined && first >= 0x69 && first <= 0x74) {
    r.pos++;
    return;
  }
  const start = r.pos;
  if (r.sBig(33) < 0n) throw new WasmModuleError(`unknown heap type in ${r.context} at byte ${start}`, start);
}

/** Reads a value type and returns its first byte (0x63/0x64 are nullable/non-null typed references). */
export function readValueType(r: ByteReader): number {
  const start = r.pos;
  const byte = r.u8();
  if (isShortValueType(byte)) return byte;
  if (byte === 0x63 || byte === 0x64) {
    skipHeapType(r);
    return byte;
  }
  throw new WasmModuleError(`unknown value type 0x${hex(byte)} in ${r.context} at byte ${start}`, start);
}

function skipBlockType(r: ByteReader): void {
  const byte = peek(r);
  if (byte === 0x40) {
    r.pos++;
    return;
  }
  if (byte !== undefined && (isShortValueType(byte) || byte === 0x63 || byte === 0x64)) {
    readValueType(r);
    return;
  }
  const start = r.pos;
  if (r.sBig(33) < 0n) throw new WasmModuleError(`unknown block type in ${r.context} at byte ${start}`, start);
}

function skipMemArg(r: ByteReader): void {
  const align = r.u32();
  if (align & 0x40) r.u32(); // multi-memory: an explicit memory index follows
  r.skipLeb(10); // offset: u32, or u64 with memory64
}

export function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}

function missingGlobal(r: ByteReader, start: number, index: number): WasmModuleError {
  return new WasmModuleError(`global ${index} used in ${r.context} at byte ${start} does not exist`, start);
}

function unknown(r: ByteReader, start: number, text: string): WasmModuleError {
  return new WasmModuleError(`unknown opcode ${text} in ${r.context} at byte ${start}`, start);
}

/**
 * Walks instructions from r.pos through the `end` that closes the expression (for a function
 * body, its final 0x0B; for a constant expression, its only one). Leaves r.pos just after it.
 * `globalCount` refuses global.get/global.set of an index at or past it: the instrumenter
 * appends a global, and an invalid module must not become a valid one that touches it.
 */
export function walkInstructions(r: ByteReader, visitor?: InstructionVisitor, globalCount = Number.POSITIVE_INFINITY): void {
  const bytes = r.bytes;
  let depth = 0;
  for (;;) {
    const start = r.pos;
    // Fast path for the most frequent shapes (numeric ops; locals, globals, branches and
    // constants with one LEB immediate; memory accesses with a plain memarg), taken only when
    // the instruction lies wholly in bounds; anything else goes through the switch below.
    const limit = r.limit;
    if (start + 2 < limit) {
      const first = bytes[start]!;
      if (first >= 0x45 && first <= 0xc4) {
        r.pos = start + 1;
        continue;
      }
      const next = bytes[start + 1]!;
      if ((first === 0x23 || first === 0x24) && next < 0x80) {
        if (next >= globalCount) throw missingGlobal(r, start, next);
        r.pos = start + 2;
        continue;
      }
      let immediates = 0;
      if ((first >= 0x20 && first <= 0x22) || (first >= 0x41 && first <= 0x42) || first === 0x0c || first === 0x0d) immediates = 1;
      else if (first >= 0x28 && first <= 0x3e && next < 0x40) immediates = 2;
      if (immediates > 0) {
        let at = start + 1;
        let complete = true;
        for (; immediates > 0 && complete; immediates--) {
          const lebStart = at;
          while (at < limit && (bytes[at]! & 0x80) !== 0 && at - lebStart < 10) at++;
          complete = at < limit && bytes[at]! < 0x80;
          at++;
        }
        if (complete) {
          r.pos = at;
          continue;
        }
      }
    }
    const op = r.u8();
    switch (op) {
      case 0x07:
        r.u32();
        visitor?.handlerStart(r.pos);
        break;
      case 0x19:
        visitor?.handlerStart(r.pos);
        break;
      case 0x00: case 0x01: case 0x05: case 0x0a: case 0x0f: case 0x1a: case 0x1b:
      case 0xd1: case 0xd3: case 0xd4:
        break;
      case 0x02: case 0x04: case 0x06:
        skipBlockType(r);
        depth++;
        break;
      case 0x03:
        skipBlockType(r);
        depth++;
        visitor?.loopBody(r.pos);
        break;
      case 0x0b:
        if (depth === 0) return;
        depth--;
        break;
      case 0x18: // delegate closes its try like an end
        r.u32();
        if (depth === 0) throw new WasmModuleError(`delegate outside a try in ${r.context} at byte ${start}`, start);
        depth--;
        break;
      case 0x08: case 0x09: case 0x0c: case 0x0d: case 0x14: case 0x15: case 0xd5: case 0xd6:
      case 0x20: case 0x21: case 0x22: case 0x25: case 0x26: case 0x3f: case 0x40:
        r.u32();
        break;
      case 0x23: case 0x24: {
        const index = r.u32();
        if (index >= globalCount) throw missingGlobal(r, start, index);
        break;
      }
      case 0x0e: {
        const count = r.u32();
        for (let i = 0; i <= count; i++) r.u32();
        break;
      }
      case 0x10: case 0x12: case 0xd2: {
        const immediate = r.pos;
        const index = r.u32();
        visitor?.functionIndex(immediate, r.pos, index);
        break;
      }
      case 0x11: case 0x13:
        r.u32();
        r.u32();
        break;
      case 0x1c: {
        const count = r.u32();
        for (let i = 0; i < count; i++) readValueType(r);
        break;
      }
      case 0x1f:
        visitor?.tryTable(start);
        skipBlockType(r);
        skipCatchClauses(r);
        depth++;
        break;
      case 0x41:
        r.skipLeb(5);
        break;
      case 0x42:
        r.skipLeb(10);
        break;
      case 0x43:
        r.skip(4);
        break;
      case 0x44:
        r.skip(8);
        break;
      case 0xd0:
        skipHeapType(r);
        break;
      case 0xfc:
        skipPrefixFC(r, start);
        break;
      case 0xfd:
        skipPrefixFD(r, start);
        break;
      case 0xfe:
        skipPrefixFE(r, start);
        break;
      default:
        if (op >= 0x28 && op <= 0x3e) skipMemArg(r);
        else if (op < 0x45 || op > 0xc4) throw unknown(r, start, `0x${hex(op)}`);
      // 0x45..0xC4: numeric instructions (sign extension included) without immediates
    }
  }
}

function skipCatchClauses(r: ByteReader): void {
  const count = r.u32();
  for (let i = 0; i < count; i++) {
    const at = r.pos;
    const kind = r.u8();
    if (kind === 0x00 || kind === 0x01) {
      r.u32(); // tag
      r.u32(); // label
    } else if (kind === 0x02 || kind === 0x03) {
      r.u32(); // label
    } else {
      throw new WasmModuleError(`unknown try_table catch kind 0x${hex(kind)} in ${r.context} at byte ${at}`, at);
    }
  }
}

function skipPrefixFC(r: ByteReader, start: number): void {
  const sub = r.u32();
  if (sub <= 7) return; // saturating truncations
  switch (sub) {
    case 8: case 10: case 12: case 14: // memory.init, memory.copy, table.init, table.copy: two indices
      r.u32();
      r.u32();
      return;
    case 9: case 11: case 13: case 15: case 16: case 17: // data.drop, memory.fill, elem.drop, table.grow/size/fill
      r.u32();
      return;
    default:
      throw unknown(r, start, `0xfc ${sub}`);
  }
}

function skipPrefixFD(r: ByteReader, start: number): void {
  const sub = r.u32();
  if (sub <= 0x0b || sub === 0x5c || sub === 0x5d) skipMemArg(r); // loads, store, load_zero
  else if (sub === 0x0c || sub === 0x0d) r.skip(16); // v128.const, i8x16.shuffle
  else if (sub >= 0x15 && sub <= 0x22) r.skip(1); // extract/replace lane
  else if (sub >= 0x54 && sub <= 0x5b) {
    skipMemArg(r); // load/store lane
    r.skip(1);
  } else if (sub > 0x113) throw unknown(r, start, `0xfd ${sub}`);
  // every other SIMD and relaxed-SIMD (0x100..0x113) opcode has no immediates
}

function skipPrefixFE(r: ByteReader, start: number): void {
  const sub = r.u32();
  if (sub === 0x03) r.skip(1); // atomic.fence: a reserved zero byte
  else if (sub <= 0x02 || (sub >= 0x10 && sub <= 0x4e)) skipMemArg(r);
  else throw unknown(r, start, `0xfe ${sub}`);
}

/** Steps over a function body's local declarations; r.pos ends at its first instruction. */
export function skipLocals(r: ByteReader): void {
  const groups = r.u32();
  for (let i = 0; i < groups; i++) {
    r.u32();
    readValueType(r);
  }
}
