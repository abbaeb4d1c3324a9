import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handModule, wat } from '../../../test/helpers/wat.js';
import { ByteReader, WasmModuleError } from './bytes.js';
import { skipLocals, walkInstructions } from './opcodes.js';
import { parseModule } from './reader.js';

/** Walks every body; returns the loops seen and the call/ref.func immediates, in order. */
function walkModule(bytes: Uint8Array): { loops: number; functionIndices: number[] } {
  const module = parseModule(bytes);
  let loops = 0;
  const functionIndices: number[] = [];
  module.codeBodies.forEach(({ start, end }, i) => {
    const r = new ByteReader(bytes, start, end);
    r.context = `function body ${i}`;
    skipLocals(r);
    walkInstructions(r, {
      loopBody: () => loops++,
      functionIndex: (_s, _e, index) => functionIndices.push(index),
      handlerStart: () => {},
      tryTable: () => {},
    });
    assert.equal(r.pos, end, `body ${i} ends where its size says`);
  });
  return { loops, functionIndices };
}

// Each feature group is followed by an empty loop: a mis-read immediate desynchronises the
// walk, which then either fails or miscounts the loops.
const EVERY_FEATURE = `(module
  (type $ii (func (param i32) (result i32)))
  (import "env" "f" (func $imported (param i32) (result i32)))
  (memory $m0 1 1 shared)
  (table $t 2 funcref)
  (tag $e (param i32))
  (data $d "hello")
  (elem $el func $callee)
  (func $callee (type $ii) local.get 0)
  (func $tail (param i32) (result i32) (return_call $callee (local.get 0)))
  (func $tail_indirect (param i32) (result i32) (return_call_indirect (type $ii) (local.get 0) (i32.const 0)))
  (func (export "all") (param $p i32) (result i32) (local $v v128) (local $x i64) (local $r funcref)
    ;; MVP: blocks, branches, br_table, calls, constants, memargs
    (block $out (result i32)
      (block $b (block $a (br_table $a $b $a (local.get $p))))
      (drop (call $imported (i32.const -123456)))
      (drop (call_indirect (type $ii) (i32.const 5) (i32.const 0)))
      (drop (i64.const -9223372036854775808))
      (drop (f32.const 1.5)) (drop (f64.const -2.25))
      (i32.store offset=1000 align=2 (i32.const 0) (i32.load8_u offset=3 (i32.const 0)))
      (drop (memory.grow (i32.const 0))) (drop (memory.size))
      (if (result i32) (local.get $p) (then (i32.const 1)) (else (i32.const 2))))
    drop
    (loop $l0)
    ;; sign extension and saturating truncation
    (drop (i32.extend8_s (i32.const 255))) (drop (i64.extend32_s (i64.const 1)))
    (drop (i32.trunc_sat_f32_s (f32.const 1))) (drop (i64.trunc_sat_f64_u (f64.const 1)))
    (loop $l1)
    ;; bulk memory and table ops
    (memory.init $d (i32.const 0) (i32.const 0) (i32.const 1)) (data.drop $d)
    (memory.copy (i32.const 0) (i32.const 1) (i32.const 1)) (memory.fill (i32.const 0) (i32.const 0) (i32.const 1))
    (table.init $t $el (i32.const 0) (i32.const 0) (i32.const 1)) (elem.drop $el)
    (table.copy (i32.const 0) (i32.const 1) (i32.const 1))
    (drop (table.grow $t (ref.null func) (i32.const 1))) (drop (table.size $t)) (table.fill $t (i32.const 0) (ref.null func) (i32.const 1))
    (loop $l2)
    ;; reference types
    (local.set $r (ref.func $callee)) (drop (ref.is_null (local.get $r)))
    (table.set $t (i32.const 0) (table.get $t (i32.const 1)))
    (drop (select (result i32) (i32.const 1) (i32.const 2) (local.get $p)))
    (loop $l3)
    ;; SIMD: const, shuffle, lanes, loads and stores of every shape
    (local.set $v (v128.const i32x4 1 2 3 4))
    (local.set $v (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v)))
    (drop (i32x4.extract_lane 3 (local.get $v))) (local.set $v (i8x16.replace_lane 15 (local.get $v) (i32.const 7)))
    (local.set $v (i32x4.add (v128.load offset=16 (i32.const 0)) (v128.load32_zero (i32.const 0))))
    (local.set $v (v128.load8_lane 5 (i32.const 0) (local.get $v))) (v128.store64_lane 1 (i32.const 0) (local.get $v))
    (v128.store (i32.const 0) (i32x4.trunc_sat_f32x4_s (local.get $v)))
    (loop $l4)
    ;; threads
    (drop (i32.atomic.load (i32.const 0))) (drop (i32.atomic.rmw.add offset=4 (i32.const 0) (i32.const 1)))
    (drop (memory.atomic.notify (i32.const 0) (i32.const 1))) (drop (memory.atomic.wait32 (i32.const 0) (i32.const 1) (i64.const 0)))
    (atomic.fence)
    (loop $l5)
    ;; exceptions, legacy encoding
    (try (do (throw $e (i32.const 1))) (catch $e drop) (catch_all))
    (try $outer (do (try (do (nop)) (delegate $outer))) (catch_all))
    (try $h (do (nop)) (catch $e (drop) (rethrow $h)))
    (loop $l7)
    (call $tail (local.get $p)))
)`;

test('the walker steps over every instruction of every supported proposal', async () => {
  const bytes = await wat(EVERY_FEATURE);
  assert.ok(WebAssembly.validate(bytes), 'the fixture itself is valid for Node 20');
  const { loops, functionIndices } = walkModule(bytes);
  assert.equal(loops, 7);
  // call $imported (0), return_call $callee (1), ref.func $callee (1), call $tail (2)
  assert.deepEqual(functionIndices, [1, 0, 1, 2]);
});

test('a memarg naming its memory (multi-memory, decode only: Node 20 allows one memory)', async () => {
  const bytes = await wat(`(module (memory $m0 1) (memory $m1 1)
    (func (i32.store $m1 offset=4 (i32.const 0) (i32.load $m1 offset=8 (i32.const 0))) (loop)))`);
  assert.deepEqual(walkModule(bytes), { loops: 1, functionIndices: [] });
});

test('relaxed SIMD (decode only: Node 20 needs a flag for it)', async () => {
  const bytes = await wat(`(module (func (result v128)
    (i32x4.relaxed_trunc_f32x4_s (f32x4.relaxed_madd (v128.const i32x4 0 0 0 0) (v128.const i32x4 0 0 0 0) (v128.const i32x4 0 0 0 0)))
    (loop)))`);
  assert.deepEqual(walkModule(bytes), { loops: 1, functionIndices: [] });
});

test('try_table with every catch clause kind and throw_ref decode (hand-built)', () => {
  const body = [
    0x00, // no locals
    0x02, 0x40, // block
    0x1f, 0x40, 0x04, // try_table, four clauses:
    0x00, 0x00, 0x00, // catch tag 0 -> 0
    0x01, 0x00, 0x00, // catch_ref tag 0 -> 0
    0x02, 0x00, // catch_all -> 0
    0x03, 0x00, // catch_all_ref -> 0
    0x03, 0x40, 0x0b, // loop end
    0x0b, // end try_table
    0x0b, // end block
    0xd0, 0x69, 0x0a, // ref.null exn; throw_ref
    0x0b,
  ];
  assert.deepEqual(walkModule(handModule(body, { tags: 1 })), { loops: 1, functionIndices: [] });
});

test('an unknown opcode is refused naming the opcode and its byte offset', () => {
  const refusedAt = (body: number[], reason: RegExp): void => {
    const bytes = handModule(body);
    assert.throws(() => walkModule(bytes), (e: unknown) => e instanceof WasmModuleError && reason.test(e.message));
  };
  refusedAt([0x00, 0x27, 0x0b], /^unknown opcode 0x27 in function body 0 at byte \d+$/);
  refusedAt([0x00, 0x01, 0xfc, 0x63, 0x0b], /^unknown opcode 0xfc 99 in function body 0 at byte \d+$/);
  refusedAt([0x00, 0xfe, 0x05, 0x0b], /^unknown opcode 0xfe 5 /);
  refusedAt([0x00, 0xfb, 0x00, 0x0b], /^unknown opcode 0xfb /);
  refusedAt([0x00, 0x1f, 0x40, 0x01, 0x07, 0x00, 0x0b, 0x0b], /unknown try_table catch kind 0x07/);
  refusedAt([0x00, 0x41], /^truncated function body 0 at byte \d+$/);
});

test('the offset in the message is the opcode byte', () => {
  const bytes = handModule([0x00, 0x01, 0x01, 0xc5, 0x0b]);
  const at = parseModule(bytes).codeBodies[0]!.start + 3;
  assert.throws(() => walkModule(bytes), (e: unknown) => e instanceof WasmModuleError && e.offset === at && e.message.endsWith(`at byte ${at}`));
});

test('a global index at or past globalCount is refused, whether its LEB is one byte or more', () => {
  const walk = (body: number[], globalCount: number): void => {
    const bytes = handModule(body);
    const { start, end } = parseModule(bytes).codeBodies[0]!;
    const r = new ByteReader(bytes, start, end);
    r.context = 'function body 0';
    skipLocals(r);
    walkInstructions(r, undefined, globalCount);
  };
  const wide = [0x00, 0x23, 0x80, 0x01, 0x1a, 0x0b]; // global.get 128; drop
  assert.doesNotThrow(() => walk(wide, 129));
  assert.throws(() => walk(wide, 128), (e: unknown) => e instanceof WasmModuleError && /^global 128 used in function body 0 at byte \d+ does not exist$/.test(e.message));
  const narrow = [0x00, 0x41, 0x00, 0x24, 0x05, 0x0b]; // i32.const 0; global.set 5
  assert.doesNotThrow(() => walk(narrow, 6));
  assert.throws(() => walk(narrow, 5), (e: unknown) => e instanceof WasmModuleError && /^global 5 used/.test(e.message));
});
