import { test } from 'node:test';
import assert from 'node:assert/strict';
import { wasmToText, wat } from '../../../test/helpers/wat.js';
import { instrumentModule, START_EXPORT } from './instrument.js';
import { parseModule } from './reader.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Exports = Record<string, any>;

const OPTIONS = { memoryMaxPages: 256, checkInterval: 1000 };

async function instantiate(bytes: Uint8Array<ArrayBuffer>, imports: WebAssembly.Imports = {}): Promise<Exports> {
  const module = await WebAssembly.compile(bytes);
  const instance = await WebAssembly.instantiate(module, { gatehouse: { deadline_check: () => {} }, ...imports });
  // the instrumented module's start function is exported instead of run at instantiation; the host calls it next
  (instance.exports[START_EXPORT] as (() => void) | undefined)?.();
  return instance.exports as Exports;
}

interface Fixture {
  name: string;
  text: string;
  imports?: () => WebAssembly.Imports;
  /** Calls the exports and returns everything observable, compared before and after instrumentation. */
  exercise(exports: Exports): unknown;
}

function manyFunctions(count: number): string {
  let text = '';
  for (let i = 0; i < count; i++) {
    text += `(func $f${i} (param i32) (result i32) ${i + 1 < count ? `(call $f${i + 1} (i32.add (local.get 0) (i32.const ${i})))` : '(call $twice (local.get 0))'})\n`;
  }
  return text;
}

const FIXTURES: Fixture[] = [
  {
    name: 'calls across many functions, imports before defined ones',
    text: `(module (import "env" "twice" (func $twice (param i32) (result i32))) (import "env" "seen" (func $seen (param i32)))
      ${manyFunctions(60)}
      (func (export "run") (param i32) (result i32) (call $seen (local.get 0)) (call $f0 (local.get 0))))`,
    imports: () => ({ env: { twice: (x: number) => x * 2, seen: () => {} } }),
    exercise: (e) => [e.run(1), e.run(100)],
  },
  {
    name: 'call_indirect through element segments: active, explicit table, passive, declarative, expression-style',
    text: `(module (import "env" "one" (func $one (result i32)))
      (type $r (func (result i32)))
      (table $t0 8 funcref) (table $t1 4 funcref)
      (func $a (result i32) i32.const 10) (func $b (result i32) i32.const 20)
      (func $c (result i32) i32.const 30) (func $d (result i32) i32.const 40)
      (elem (i32.const 0) $a $b $one)
      (elem (table $t1) (i32.const 1) func $c)
      (elem $passive func $d $a)
      (elem $exprs funcref (ref.func $b) (ref.null func) (ref.func $one))
      (elem (table $t0) (i32.const 4) funcref (ref.func $d))
      (elem declare func $c)
      (elem (i32.const 6) funcref (ref.func $c) (ref.null func))
      (table $t2 2 funcref)
      (elem (table $t2) (i32.const 0) funcref (ref.func $d) (ref.null func))
      (elem declare funcref (ref.func $d) (ref.null func))
      (func (export "t2") (param i32) (result i32) (call_indirect $t2 (type $r) (local.get 0)))
      (func (export "t0") (param i32) (result i32) (call_indirect $t0 (type $r) (local.get 0)))
      (func (export "t1") (param i32) (result i32) (call_indirect $t1 (type $r) (local.get 0)))
      (func (export "init") (table.init $t0 $passive (i32.const 5) (i32.const 0) (i32.const 2))
        (table.init $t1 $exprs (i32.const 2) (i32.const 0) (i32.const 1)))
      (func (export "declared") (result i32) (table.set $t1 (i32.const 3) (ref.func $c)) (call_indirect $t1 (type $r) (i32.const 3))))`,
    imports: () => ({ env: { one: () => 1 } }),
    exercise: (e) => {
      const before = [0, 1, 2, 4, 6].map((i) => e.t0(i));
      e.init();
      return [before, e.t0(5), e.t0(6), e.t1(1), e.t1(2), e.declared(), e.t2(0)];
    },
  },
  {
    name: 'ref.func in globals, exported globals, tables and memories, start section',
    text: `(module (import "env" "base" (global $base i32)) (import "env" "log" (func $log (param i32)))
      (type $r (func (result i32)))
      (global $fn (export "fn") funcref (ref.func $seven))
      (global $started (export "started") (mut i32) (i32.const 0))
      (table $t (export "table") 2 funcref)
      (memory (export "memory") 1)
      (func $seven (result i32) (i32.add (global.get $base) (i32.const 7)))
      (func $init (global.set $started (i32.const 1)) (call $log (i32.const 3)) (i32.store (i32.const 8) (i32.const 99)))
      (start $init)
      (func (export "via_global") (result i32) (table.set $t (i32.const 0) (global.get $fn)) (call_indirect (type $r) (i32.const 0))))`,
    imports: () => ({ env: { base: 100, log: () => {} } }),
    exercise: (e) => [e.started.value, e.via_global(), e.fn.value(), e.table.get(0)(), new Int32Array(e.memory.buffer)[2]],
  },
  {
    name: 'SIMD',
    text: `(module (memory (export "memory") 1)
      (func (export "dot") (param i32) (result i32) (local $v v128)
        (local.set $v (i32x4.mul (v128.const i32x4 1 2 3 4) (i32x4.splat (local.get 0))))
        (v128.store (i32.const 16) (i8x16.shuffle 12 13 14 15 8 9 10 11 4 5 6 7 0 1 2 3 (local.get $v) (local.get $v)))
        (i32.add (i32x4.extract_lane 0 (local.get $v)) (i32x4.extract_lane 3 (v128.load (i32.const 16))))))`,
    exercise: (e) => [e.dot(3), e.dot(-5), Array.from(new Int32Array(e.memory.buffer, 16, 4))],
  },
  {
    name: 'bulk memory: memory.init, memory.copy, memory.fill, data.drop',
    text: `(module (memory (export "memory") 1) (data $hello "hello") (data (i32.const 100) "xyz")
      (func (export "run") (memory.init $hello (i32.const 0) (i32.const 0) (i32.const 5))
        (memory.copy (i32.const 10) (i32.const 0) (i32.const 5)) (memory.fill (i32.const 20) (i32.const 33) (i32.const 3))
        (data.drop $hello))
      (func (export "reinit") (memory.init $hello (i32.const 0) (i32.const 0) (i32.const 1))))`,
    exercise: (e) => {
      e.run();
      let dropped = '';
      try { e.reinit(); } catch (error) { dropped = (error as Error).constructor.name; }
      return [Buffer.from(new Uint8Array(e.memory.buffer, 0, 104)).toString('latin1'), dropped];
    },
  },
  {
    name: 'tail calls and loops with parameters and results',
    text: `(module
      (func $count (param $n i32) (param $acc i32) (result i32)
        (if (result i32) (i32.eqz (local.get $n)) (then (local.get $acc))
          (else (return_call $count (i32.sub (local.get $n) (i32.const 1)) (i32.add (local.get $acc) (local.get $n))))))
      (func (export "deep") (param i32) (result i32) (return_call $count (local.get 0) (i32.const 0)))
      (func (export "fib") (param $n i32) (result i32) (local $a i32) (local $b i32)
        (local.set $b (i32.const 1))
        (i32.const 0)
        (loop $l (param i32) (result i32)
          (drop)
          (local.get $a)
          (local.set $a (local.get $b)) (local.set $b (i32.add (local.get $b)))
          (local.get $a)
          (local.tee $n (i32.sub (local.get $n) (i32.const 1)))
          (br_if $l))))`,
    exercise: (e) => [e.deep(100000), e.fib(1), e.fib(10), e.fib(30)],
  },
  {
    name: 'exceptions (legacy encoding) thrown inside a loop',
    text: `(module (tag $stop (param i32))
      (func (export "find") (param $limit i32) (result i32) (local $i i32)
        (try (result i32)
          (do (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (if (i32.ge_u (local.get $i) (local.get $limit)) (then (throw $stop (local.get $i))))
                (br $l))
              (i32.const -1))
          (catch $stop))))`,
    exercise: (e) => [e.find(5), e.find(5000)],
  },
];

for (const fixture of FIXTURES) {
  test(`instrumented module behaves like the original: ${fixture.name}`, async () => {
    const original = await wat(fixture.text);
    const { bytes } = instrumentModule(original, OPTIONS);
    assert.ok(WebAssembly.validate(bytes));
    const expected = fixture.exercise(await instantiate(original, fixture.imports?.()));
    const actual = fixture.exercise(await instantiate(bytes, fixture.imports?.()));
    assert.deepEqual(actual, expected);
  });
}

test('the element segment fixture uses all eight encodings', async () => {
  const text = FIXTURES.find((f) => f.name.startsWith('call_indirect'))!.text;
  const flags = [...new Set(parseModule(await wat(text)).elements.map((e) => e.flags))].sort();
  assert.deepEqual(flags, [0, 1, 2, 3, 4, 5, 6, 7]);
});

test('a module without loops still instruments into a valid module, for every fixture and the empty module', async () => {
  const sources = [...FIXTURES.map((f) => f.text), '(module)', '(module (func (export "f")))', '(module (global i32 (i32.const 1)))'];
  for (const text of sources) {
    const { bytes } = instrumentModule(await wat(text), OPTIONS);
    assert.ok(WebAssembly.validate(bytes), text.slice(0, 60));
    const structure = parseModule(bytes);
    const added = structure.imports.at(-1)!;
    assert.deepEqual([added.module, added.name, added.funcType], ['gatehouse', 'deadline_check', { params: [], results: [] }]);
  }
});

test('an existing [] -> [] type is reused; otherwise one is appended', async () => {
  const reusing = await wat('(module (func $v) (func (param i32)))');
  assert.equal(parseModule(instrumentModule(reusing, OPTIONS).bytes).types.length, parseModule(reusing).types.length);
  const appending = await wat('(module (func (param i32)))');
  assert.equal(parseModule(instrumentModule(appending, OPTIONS).bytes).types.length, parseModule(appending).types.length + 1);
});

test('the name section survives with shifted indices: a trap names the function it happened in', async () => {
  const text = `(module (import "env" "f" (func $imported))
    (func $first (param $x i32) (local $y i32) nop)
    (func $boom unreachable)
    (func $caller (export "go") (call $boom)))`;
  const original = await wat(text, { names: true });
  const { bytes, info } = instrumentModule(original, OPTIONS);
  assert.ok(info.customSections.includes('name'));
  const exports = await instantiate(bytes, { env: { f: () => {} } });
  const stack = (() => { try { exports.go(); return ''; } catch (error) { return (error as Error).stack ?? ''; } })();
  const frames = stack.split('\n').filter((line) => line.includes('wasm-function'));
  assert.match(frames[0]!, /at boom \(/);
  assert.match(frames[1]!, /at caller \(/);
  // Local names follow their function too.
  const disassembled = await wasmToText(bytes);
  assert.match(disassembled, /\(func \$first \(type \d+\) \(param \$x i32\)\s*\(local \$y i32\)/);
  assert.match(disassembled, /\(import "env" "f" \(func \$imported \(type 0\)\)\)\s+\(import "gatehouse" "deadline_check" \(func \(;1;\) \(type 0\)\)\)/);
});

test('every loop header counts down and calls deadline_check once per checkInterval iterations', async () => {
  const bytes = await wat(`(module (func (export "sum") (param $n i32) (result i32) (local $acc i32)
    (loop $l (local.set $acc (i32.add (local.get $acc) (local.get $n)))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (local.get $acc)))`);
  const result = instrumentModule(bytes, { memoryMaxPages: 1, checkInterval: 3 });
  assert.equal(result.loopsInstrumented, 1);
  let checks = 0;
  const exports = await instantiate(result.bytes, { gatehouse: { deadline_check: () => { checks++; } } });
  assert.equal(exports.sum(10), 55);
  assert.equal(checks, 3); // 10 iterations, a check on the 3rd, 6th and 9th
  assert.equal(exports.sum(2), 3);
  assert.equal(checks, 4); // the counter carries over between calls: 9+1 .. 12
});

test('the start section becomes an export the host calls after instantiation, when exports are reachable', async () => {
  const original = await wat(`(module (global $g (export "g") (mut i32) (i32.const 0))
    (func $init (global.set $g (i32.const 7))) (start $init))`);
  const { bytes } = instrumentModule(original, OPTIONS);
  const instance = await WebAssembly.instantiate(await WebAssembly.compile(bytes), { gatehouse: { deadline_check: () => {} } });
  const g = instance.exports.g as WebAssembly.Global;
  assert.equal(g.value, 0, 'nothing ran during instantiation');
  (instance.exports[START_EXPORT] as () => void)();
  assert.equal(g.value, 7);
  const noStart = instrumentModule(await wat('(module (func (export "f")))'), OPTIONS).bytes;
  assert.deepEqual(WebAssembly.Module.exports(new WebAssembly.Module(noStart)).map((e) => e.name), ['f']);
});

test('a module exporting the reserved start name is refused', async () => {
  const bytes = await wat('(module (func $s) (start $s) (func (export "__gatehouse_start")))');
  assert.throws(() => instrumentModule(bytes, OPTIONS), /reserves/);
});
