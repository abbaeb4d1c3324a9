// Measures instrumentModule (not a test: scripts/run-tests.mjs runs only *.test.js).
//   npm run build && node dist/src/wasm-host/binary/instrument.bench.js [file.wasm ...]
//
// 1. Rewrite time on a generated ~8 MB module shaped like compiled Go (many functions, each a
//    loop of locals, i64 constants, loads, stores and calls), and on any .wasm files given, as
//    the median of 5 runs of wall and CPU time.
// 2. The cost of the loop check: iterations per second of the same exported loop, original and
//    instrumented (checkInterval 10000, a deadline_check that reads the clock), median of 5
//    rounds each, interleaved; on the tightest possible loop and on a byte-scanning one.

import { readFileSync } from 'node:fs';
import { wat } from '../../../test/helpers/wat.js';
import { ByteWriter } from './bytes.js';
import { instrumentModule } from './instrument.js';

function section(out: ByteWriter, id: number, payload: ByteWriter): void {
  out.u8(id);
  out.u32(payload.length);
  out.bytes(payload.view());
}

function generateLargeModule(functions: number, repeats: number): Uint8Array<ArrayBuffer> {
  const out = new ByteWriter(1 << 20);
  out.bytes(Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00));
  const types = new ByteWriter();
  types.bytes(Uint8Array.of(1, 0x60, 1, 0x7f, 1, 0x7f));
  section(out, 1, types);
  const declared = new ByteWriter(functions * 2);
  declared.u32(functions);
  for (let i = 0; i < functions; i++) declared.u8(0);
  section(out, 3, declared);
  const memory = new ByteWriter();
  memory.bytes(Uint8Array.of(1, 0x00, 1));
  section(out, 5, memory);
  const exports = new ByteWriter();
  exports.bytes(Uint8Array.of(1, 3, 0x72, 0x75, 0x6e, 0x00, 0x00)); // "run" -> function 0
  section(out, 7, exports);
  const code = new ByteWriter(functions * repeats * 40);
  code.u32(functions);
  const body = new ByteWriter(repeats * 40 + 64);
  for (let f = 0; f < functions; f++) {
    body.reset();
    body.bytes(Uint8Array.of(1, 2, 0x7e)); // two i64 locals
    body.bytes(Uint8Array.of(0x03, 0x40)); // loop
    for (let k = 0; k < repeats; k++) {
      body.bytes(Uint8Array.of(0x42, 0xc0, 0xbb, 0x78, 0x21, 1)); // i64.const -123456; local.set 1
      body.bytes(Uint8Array.of(0x20, 0x00, 0x28, 0x02, 0x90, 0x03, 0x1a)); // local.get 0; i32.load offset=400; drop
      body.bytes(Uint8Array.of(0x41, 0x08, 0x20, 0x00, 0x36, 0x02, 0x04)); // i32.const 8; local.get 0; i32.store offset=4
      body.bytes(Uint8Array.of(0x20, 0x00, 0x10)); // local.get 0; call (f + 1) % functions
      body.u32((f + 1) % functions);
      body.bytes(Uint8Array.of(0x1a)); // drop
    }
    body.bytes(Uint8Array.of(0x20, 0x00, 0x0d, 0x00, 0x0b, 0x20, 0x00, 0x0b)); // local.get 0; br_if 0; end; local.get 0; end
    code.u32(body.length);
    code.bytes(body.view());
  }
  section(out, 10, code);
  return out.toBytes() as Uint8Array<ArrayBuffer>;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function timeInstrument(label: string, bytes: Uint8Array): void {
  const wall: number[] = [];
  const cpu: number[] = [];
  let result = instrumentModule(bytes, { memoryMaxPages: 65536, checkInterval: 10_000 });
  for (let i = 0; i < 5; i++) {
    const startCpu = process.cpuUsage();
    const startWall = process.hrtime.bigint();
    result = instrumentModule(bytes, { memoryMaxPages: 65536, checkInterval: 10_000 });
    wall.push(Number(process.hrtime.bigint() - startWall) / 1e6);
    const used = process.cpuUsage(startCpu);
    cpu.push((used.user + used.system) / 1e3);
  }
  const mb = (n: number): string => (n / 1e6).toFixed(2);
  console.log(`${label}: ${mb(bytes.length)} MB -> ${mb(result.bytes.length)} MB, ${result.loopsInstrumented} loops, ` +
    `median ${median(wall).toFixed(1)} ms wall / ${median(cpu).toFixed(1)} ms CPU, valid: ${WebAssembly.validate(result.bytes)}`);
}

const TIGHT_LOOP = `(module (func (export "spin") (param $n i32) (result i32) (local $acc i32)
  (loop $l (local.set $acc (i32.add (local.get $acc) (i32.xor (local.get $n) (i32.const 7))))
    (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
  (local.get $acc)))`;

// A loop shaped like header scanning: a byte load, two compares and a count per iteration.
const SCAN_LOOP = `(module (memory 1) (func (export "spin") (param $n i32) (result i32) (local $i i32) (local $found i32)
  (loop $l
    (if (i32.eq (i32.load8_u (i32.and (local.get $i) (i32.const 0xffff))) (i32.const 58))
      (then (local.set $found (i32.add (local.get $found) (i32.const 1)))))
    (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
  (local.get $found)))`;

async function loopOverhead(label: string, text: string): Promise<void> {
  const bytes = await wat(text);
  const instrumented = instrumentModule(bytes, { memoryMaxPages: 1, checkInterval: 10_000 }).bytes;
  let deadline = Number.POSITIVE_INFINITY;
  const imports = { gatehouse: { deadline_check: () => { if (performance.now() > deadline) throw new Error('deadline'); } } };
  const plain = (await WebAssembly.instantiate(bytes)).instance.exports.spin as (n: number) => number;
  const checked = (await WebAssembly.instantiate(instrumented, imports)).instance.exports.spin as (n: number) => number;
  deadline = performance.now() + 3_600_000;
  const iterations = 50_000_000;
  const rate = (spin: (n: number) => number): number => {
    const start = process.hrtime.bigint();
    spin(iterations);
    return iterations / (Number(process.hrtime.bigint() - start) / 1e9);
  };
  rate(plain);
  rate(checked);
  const plainRates: number[] = [];
  const checkedRates: number[] = [];
  for (let round = 0; round < 5; round++) {
    plainRates.push(rate(plain));
    checkedRates.push(rate(checked));
  }
  const plainMedian = median(plainRates);
  const checkedMedian = median(checkedRates);
  console.log(`${label}: ${(plainMedian / 1e6).toFixed(0)} M iterations/s plain, ${(checkedMedian / 1e6).toFixed(0)} M/s instrumented ` +
    `(${(checkedMedian / plainMedian).toFixed(2)}x, +${((1 / checkedMedian - 1 / plainMedian) * 1e9).toFixed(2)} ns per iteration)`);
}

timeInstrument('generated Go-shaped module', generateLargeModule(20_000, 12));
for (const path of process.argv.slice(2)) timeInstrument(path, new Uint8Array(readFileSync(path)));
await loopOverhead('tight loop (add, xor, sub, br_if)', TIGHT_LOOP);
await loopOverhead('scan loop (load8_u, compares, count)', SCAN_LOOP);
