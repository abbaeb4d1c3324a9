import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handModule, wat } from '../../../test/helpers/wat.js';
import { ByteReader, ByteWriter, WasmModuleError } from './bytes.js';
import { parseModule } from './reader.js';

function refusal(reason: RegExp): (error: unknown) => boolean {
  return (error) => error instanceof WasmModuleError && reason.test(error.message);
}

test('LEB128: u32, s32 and s33/s64 decode the values the format defines', () => {
  const r = new ByteReader(Uint8Array.of(0xe5, 0x8e, 0x26, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7f, 0xc0, 0xbb, 0x78, 0x80, 0x7f));
  assert.equal(r.u32(), 624485);
  assert.equal(r.u32(), 0xffffffff);
  assert.equal(r.s32(), -1);
  assert.equal(r.s32(), -123456);
  assert.equal(r.sBig(64), -128n);
  assert.throws(() => new ByteReader(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x1f)).u32(), refusal(/malformed u32/));
  assert.throws(() => new ByteReader(Uint8Array.of(0x80, 0x80)).u32(), refusal(/truncated module at byte 2/));
});

test('LEB128: what ByteWriter writes, ByteReader reads back', () => {
  const w = new ByteWriter(1);
  const unsigned = [0, 1, 127, 128, 16383, 16384, 0x7fffffff, 0xffffffff];
  const signed = [0, -1, 63, 64, -64, -65, 0x7fffffff, -0x80000000];
  for (const v of unsigned) w.u32(v);
  for (const v of signed) w.s32(v);
  const r = new ByteReader(w.toBytes());
  assert.deepEqual(unsigned.map(() => r.u32()), unsigned);
  assert.deepEqual(signed.map(() => r.s32()), signed);
  assert.ok(r.atEnd());
});

test('garbage, another binary version and truncated sections are refused with the reason', async () => {
  assert.throws(() => parseModule(new TextEncoder().encode('#!/bin/sh\necho hi\n')), refusal(/^not a WebAssembly module \(bad magic\)$/));
  assert.throws(() => parseModule(Uint8Array.of(0, 0x61, 0x73)), refusal(/bad magic/));
  assert.throws(() => parseModule(Uint8Array.of(0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0)), refusal(/unsupported WebAssembly binary version/));
  const full = await wat('(module (func (export "f") (result i32) i32.const 42))');
  assert.doesNotThrow(() => parseModule(full));
  assert.throws(() => parseModule(full.subarray(0, full.length - 3)), refusal(/^truncated section 10 at byte \d+/));
  // A type section whose size fits the file but whose count claims five types where one is.
  const lying = handModule([0x00, 0x0b]);
  assert.equal(lying[8], 1);
  lying[10] = 5;
  assert.throws(() => parseModule(lying), refusal(/^truncated section 1 at byte 14$/));
});

test('sections out of order or unknown are refused', () => {
  const bytes = handModule([0x00, 0x0b]);
  const swapped = Uint8Array.from(bytes);
  // Type section (id 1) and function section (id 3) are the first two: give the first id 3.
  swapped[8] = 3;
  assert.throws(() => parseModule(swapped), (e: unknown) => e instanceof WasmModuleError);
  const unknown = Uint8Array.from([...bytes.subarray(0, 8), 0x2a, 0x00, ...bytes.subarray(8)]);
  assert.throws(() => parseModule(unknown), refusal(/unknown section id 42 at byte 8/));
});

test('the structure: types, imports with their types, memories, globals, exports, start, elements, data count, bodies, custom sections', async () => {
  const bytes = await wat(`(module
    (type $v (func))
    (type $ii (func (param i32) (result i32)))
    (import "env" "log" (func $log (param i32)))
    (import "env" "mem" (memory 2 10))
    (import "env" "g" (global i32))
    (table $t 4 funcref)
    (global $counter (mut i32) (i32.const 0))
    (global $fref funcref (ref.func $a))
    (func $a (type $v))
    (func $b (type $ii) local.get 0)
    (elem (i32.const 0) $a $b)
    (elem func $a)
    (elem declare func $b)
    (data $d "abc")
    (start $a)
    (export "b" (func $b))
    (export "t" (table $t))
    (func (export "drop") data.drop $d))`, { names: true });
  const m = parseModule(bytes);
  assert.equal(m.types.length, 3); // wabt adds [i32] -> [] for the import
  assert.deepEqual(m.imports.map((i) => `${i.module}.${i.name}:${i.kind}`), ['env.log:func', 'env.mem:memory', 'env.g:global']);
  assert.deepEqual(m.imports[0]!.funcType, { params: [0x7f], results: [] });
  assert.deepEqual(m.imports[1]!.memory, { initialPages: 2, maxPages: 10, shared: false });
  assert.equal(m.importedFunctionCount, 1);
  assert.equal(m.importedGlobalCount, 1);
  assert.equal(m.functionTypes.length, 3);
  assert.equal(m.codeBodies.length, 3);
  assert.equal(m.tableCount, 1);
  assert.equal(m.globalCount, 2);
  assert.equal(m.start, 1);
  assert.deepEqual(m.elements.map((e) => e.mode), ['active', 'passive', 'declarative']);
  assert.equal(m.dataCount, 1);
  assert.deepEqual(m.exports, [{ name: 'b', kind: 'func', index: 2 }, { name: 't', kind: 'table', index: 0 }, { name: 'drop', kind: 'func', index: 3 }]);
  assert.deepEqual(m.customSections.map((c) => c.name), ['name']);
});

test('memory64 is refused; a shared memory is parsed and flagged', async () => {
  const shared = parseModule(await wat('(module (memory 1 2 shared))'));
  assert.deepEqual(shared.memories, [{ initialPages: 1, maxPages: 2, shared: true }]);
  // A memory section with flags 0x04 (memory64), min 1.
  const memory64 = Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x03, 0x01, 0x04, 0x01);
  assert.throws(() => parseModule(memory64), refusal(/64-bit \(memory64\/table64\), which is not supported/));
});
