import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handModule, wat } from '../../../test/helpers/wat.js';
import { WasmModuleError } from './bytes.js';
import { instrumentModule } from './instrument.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Exports = Record<string, any>;

async function instantiate(bytes: Uint8Array<ArrayBuffer>, imports: WebAssembly.Imports): Promise<Exports> {
  return (await WebAssembly.instantiate(await WebAssembly.compile(bytes), imports)).exports as Exports;
}

function refusal(reason: RegExp): (error: unknown) => boolean {
  return (error) => error instanceof WasmModuleError && reason.test(error.message);
}

class DeadlineExceeded extends Error {}

test('an infinite loop ends when deadline_check throws, and the instance still answers afterwards', async () => {
  const bytes = await wat(`(module
    (func (export "spin") (loop $forever (br $forever)))
    (func (export "spin_nested") (param i32) (loop $outer (loop $inner (br_if $inner (local.get 0))) (br $outer)))
    (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1))))`);
  const { bytes: instrumented, loopsInstrumented } = instrumentModule(bytes, { memoryMaxPages: 1, checkInterval: 10_000 });
  assert.equal(loopsInstrumented, 3);
  let deadline = 0;
  const exports = await instantiate(instrumented, {
    gatehouse: { deadline_check: () => { if (Date.now() > deadline) throw new DeadlineExceeded('deadline exceeded'); } },
  });
  deadline = Date.now() + 50;
  assert.throws(() => exports.spin(), DeadlineExceeded);
  assert.equal(exports.add(2, 3), 5);
  deadline = Date.now() + 50;
  assert.throws(() => exports.spin_nested(1), DeadlineExceeded);
  deadline = Date.now() + 50;
  assert.throws(() => exports.spin_nested(0), DeadlineExceeded);
  assert.equal(exports.add(-1, 1), 0);
});

test('a guest catch_all cannot swallow the deadline: every handler re-raises it before running', async () => {
  const bytes = await wat(`(module (tag $own)
    (func (export "stubborn") (result i32) (local $caught i32)
      ;; Without the handler check this would swallow the deadline 100 times, then return.
      (loop $again
        (try (do (loop $spin (br $spin)))
          (catch_all (local.set $caught (i32.add (local.get $caught) (i32.const 1)))))
        (br_if $again (i32.lt_u (local.get $caught) (i32.const 100))))
      (local.get $caught))
    (func (export "own") (result i32)
      (try (result i32) (do (throw $own)) (catch $own (i32.const 7)) (catch_all (i32.const 8)))))`);
  const result = instrumentModule(bytes, { memoryMaxPages: 1, checkInterval: 1000 });
  assert.equal(result.handlersInstrumented, 3);
  let deadline = Number.POSITIVE_INFINITY;
  const exports = await instantiate(result.bytes, {
    gatehouse: { deadline_check: () => { if (Date.now() > deadline) throw new DeadlineExceeded('deadline exceeded'); } },
  });
  assert.equal(exports.own(), 7); // the guest's own exceptions are still caught by its handlers
  deadline = Date.now() + 50;
  assert.throws(() => exports.stubborn(), DeadlineExceeded);
});

test('an invalid module cannot become valid by reaching the appended counter global', async () => {
  // (loop (global.set 0 (i32.const 1000)) (br 0)) in a module with no globals: invalid as it
  // stands, but after instrumentation global 0 is the countdown, which it would keep from zero.
  const resetsCounter = handModule([0x00, 0x03, 0x40, 0x41, 0xe8, 0x07, 0x24, 0x00, 0x0c, 0x00, 0x0b, 0x0b]);
  assert.equal(WebAssembly.validate(resetsCounter), false);
  assert.throws(() => instrumentModule(resetsCounter, { memoryMaxPages: 1, checkInterval: 10 }),
    refusal(/^global 0 used in function body 0 \(function 0\) at byte \d+ does not exist$/));
  const readsCounter = await wat('(module (global $g i32 (i32.const 1)) (func (export "f") (result i32) (global.get $g)))');
  const globalGet = readsCounter.findIndex((b, i) => b === 0x23 && readsCounter[i + 1] === 0x00 && readsCounter[i + 2] === 0x0b);
  const patched = Uint8Array.from(readsCounter);
  patched[globalGet + 1] = 0x01; // global.get 1: one past the last global
  assert.throws(() => instrumentModule(patched, { memoryMaxPages: 1, checkInterval: 10 }), refusal(/^global 1 used in /));
  assert.doesNotThrow(() => instrumentModule(readsCounter, { memoryMaxPages: 1, checkInterval: 10 }));
});

test('imports from the host\'s reserved module "gatehouse" are refused', async () => {
  const bytes = await wat('(module (import "gatehouse" "deadline_check" (func)))');
  assert.throws(() => instrumentModule(bytes, { memoryMaxPages: 1, checkInterval: 10 }),
    refusal(/^import gatehouse\.deadline_check: the import module "gatehouse" is reserved for the host$/));
});

test('try_table is refused by the instrumenter (its handlers are branch targets)', () => {
  const body = [0x00, 0x02, 0x40, 0x1f, 0x40, 0x01, 0x02, 0x00, 0x0b, 0x0b, 0x0b];
  assert.throws(() => instrumentModule(handModule(body), { memoryMaxPages: 1, checkInterval: 10 }),
    refusal(/^try_table \(exnref exception handling\) at byte \d+ is not supported/));
});

test('truncated or corrupted modules fail with WasmModuleError, never another error', async () => {
  const bytes = await wat(`(module (import "env" "f" (func $f (param i32)))
    (memory 1 2) (table 2 funcref) (global $g (mut i32) (i32.const 5)) (elem (i32.const 0) $a $b)
    (data (i32.const 0) "abcdef")
    (func $a (loop (call $f (global.get $g)) (br_if 0 (i32.const 0))))
    (func $b (export "b") (param i32) (result i32) (i32.add (local.get 0) (i32.load offset=4 (i32.const 0)))))`, { names: true });
  const options = { memoryMaxPages: 4, checkInterval: 10 };
  let refused = 0;
  const attempt = (candidate: Uint8Array): void => {
    try {
      instrumentModule(candidate, options);
    } catch (error) {
      if (!(error instanceof WasmModuleError)) throw error;
      refused++;
    }
  };
  for (let cut = 0; cut < bytes.length; cut++) attempt(bytes.subarray(0, cut));
  let seed = 12345;
  const random = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let round = 0; round < 2000; round++) {
    const corrupted = Uint8Array.from(bytes);
    const flips = 1 + Math.floor(random() * 3);
    for (let i = 0; i < flips; i++) corrupted[8 + Math.floor(random() * (bytes.length - 8))] = Math.floor(random() * 256);
    attempt(corrupted);
  }
  assert.ok(refused > bytes.length - 1, 'every truncation is refused');
});

test('memory without a maximum, or above the cap, gets the cap; memory.grow past it returns -1', async () => {
  for (const declaration of ['(memory (export "memory") 1)', '(memory (export "memory") 1 65536)']) {
    const bytes = await wat(`(module ${declaration}
      (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))`);
    const { bytes: instrumented, info } = instrumentModule(bytes, { memoryMaxPages: 4, checkInterval: 100 });
    assert.deepEqual(info.memory, { initialPages: 1, maxPages: 4, imported: false, shared: false });
    const exports = await instantiate(instrumented, { gatehouse: { deadline_check: () => {} } });
    assert.equal(exports.grow(3), 1);
    assert.equal(exports.grow(1), -1);
    assert.equal(exports.memory.buffer.byteLength, 4 * 65536);
  }
});

test('a maximum under the cap is kept', async () => {
  const bytes = await wat('(module (memory 1 2) (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))');
  const { bytes: instrumented, info } = instrumentModule(bytes, { memoryMaxPages: 64, checkInterval: 100 });
  assert.equal(info.memory?.maxPages, 2);
  const exports = await instantiate(instrumented, { gatehouse: { deadline_check: () => {} } });
  assert.equal(exports.grow(2), -1);
  assert.equal(exports.grow(1), 1);
});

test('initial memory over the cap is refused with the sizes in the message', async () => {
  const bytes = await wat('(module (memory 300))');
  assert.throws(
    () => instrumentModule(bytes, { memoryMaxPages: 160, checkInterval: 100 }),
    refusal(/^memory 0 declares 300 pages \(18\.75 MiB\) of initial memory, over the limit of 10 MiB$/),
  );
  const imported = await wat('(module (import "env" "memory" (memory 32)))');
  assert.throws(() => instrumentModule(imported, { memoryMaxPages: 16, checkInterval: 100 }),
    refusal(/^imported memory env\.memory declares 32 pages \(2 MiB\) of initial memory, over the limit of 1 MiB$/));
});

test('an imported memory is reported with the maximum the host must supply', async () => {
  const unbounded = await wat('(module (import "env" "memory" (memory 2)))');
  assert.deepEqual(instrumentModule(unbounded, { memoryMaxPages: 16, checkInterval: 100 }).info.memory,
    { initialPages: 2, maxPages: 16, imported: true, shared: false });
  const bounded = await wat('(module (import "env" "memory" (memory 2 8)))');
  assert.equal(instrumentModule(bounded, { memoryMaxPages: 16, checkInterval: 100 }).info.memory?.maxPages, 8);
});

test('shared memory is refused, defined or imported', async () => {
  const defined = await wat('(module (memory 1 2 shared))');
  assert.throws(() => instrumentModule(defined, { memoryMaxPages: 16, checkInterval: 100 }), refusal(/^memory 0 is shared \(threads\), which is not supported$/));
  const imported = await wat('(module (import "env" "memory" (memory 1 2 shared)))');
  assert.throws(() => instrumentModule(imported, { memoryMaxPages: 16, checkInterval: 100 }), refusal(/^imported memory env\.memory is shared/));
});

test('garbage, truncation and unknown opcodes are refused by instrumentModule with the reason', async () => {
  const options = { memoryMaxPages: 16, checkInterval: 100 };
  assert.throws(() => instrumentModule(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9), options), refusal(/^not a WebAssembly module \(bad magic\)$/));
  const valid = await wat('(module (func (export "f") (loop)))');
  assert.throws(() => instrumentModule(valid.subarray(0, valid.length - 2), options), refusal(/^truncated section 10 at byte \d+/));
  assert.throws(() => instrumentModule(handModule([0x00, 0x03, 0x40, 0xf0, 0x0b, 0x0b]), options),
    refusal(/^unknown opcode 0xf0 in function body 0 \(function 0\) at byte \d+$/));
  assert.throws(() => instrumentModule(handModule([0x00, 0x0b, 0x01]), options), refusal(/has 1 bytes after its final end/));
});

test('options out of range are refused before any work', async () => {
  const bytes = await wat('(module)');
  assert.throws(() => instrumentModule(bytes, { memoryMaxPages: 0, checkInterval: 1 }), /memoryMaxPages must be an integer from 1 to 65536/);
  assert.throws(() => instrumentModule(bytes, { memoryMaxPages: 1, checkInterval: 0.5 }), /checkInterval must be an integer/);
});
