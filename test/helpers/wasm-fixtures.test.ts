import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ABI_MARKERS, decodeWatString, encodePairs, expandFixtureSource, listWasmFixtures, wasmFixture,
} from './wasm-fixtures.js';

const KNOWN_MODULES = new Set(['env', 'wasi_snapshot_preview1', 'wasi_unstable']);
const MARKER_EXPORT = /^proxy_abi_version_(\d+_\d+_\d+)$/;

// What each fixture exists to lack (everything else must carry the full lifecycle set).
const DELIBERATELY_MISSING: Record<string, string[]> = {
  'no-abi': ['marker'],
  'no-allocator': ['allocator'],
  'missing-context-create': ['proxy_on_context_create'],
};

function exportsOf(binary: Uint8Array<ArrayBuffer>): string[] {
  return WebAssembly.Module.exports(new WebAssembly.Module(binary)).map((e) => e.name);
}

function importsOf(binary: Uint8Array<ArrayBuffer>): WebAssembly.ModuleImportDescriptor[] {
  return WebAssembly.Module.imports(new WebAssembly.Module(binary));
}

test('every .wat fixture compiles to a valid module', async () => {
  const names = listWasmFixtures();
  assert.ok(names.includes('set-header') && !names.includes('prelude'), names.join(','));
  for (const name of names) {
    const binary = await wasmFixture(name);
    assert.ok(WebAssembly.validate(binary), `${name} does not validate`);
  }
});

test('every fixture exports memory, an allocator, a marker and the lifecycle callbacks unless it exists to lack one', async () => {
  for (const name of listWasmFixtures()) {
    const exported = exportsOf(await wasmFixture(name));
    const missing = DELIBERATELY_MISSING[name] ?? [];
    assert.ok(exported.includes('memory'), `${name}: memory`);
    const hasAllocator = exported.includes('malloc') || exported.includes('proxy_on_memory_allocate');
    assert.equal(hasAllocator, !missing.includes('allocator'), `${name}: allocator`);
    assert.equal(exported.filter((e) => MARKER_EXPORT.test(e)).length, missing.includes('marker') ? 0 : 1, `${name}: marker`);
    for (const callback of ['proxy_on_context_create', 'proxy_on_vm_start', 'proxy_on_configure']) {
      assert.equal(exported.includes(callback), !missing.includes(callback), `${name}: ${callback}`);
    }
  }
});

test('fixtures import only from env and the two WASI modules, except unknown-module', async () => {
  for (const name of listWasmFixtures()) {
    const modules = new Set(importsOf(await wasmFixture(name)).map((i) => i.module));
    const unknown = [...modules].filter((m) => !KNOWN_MODULES.has(m));
    if (name === 'unknown-module') assert.deepEqual(unknown, ['foo'], name);
    else assert.deepEqual(unknown, [], name);
  }
});

test('the marker option replaces the fixture marker, and none removes it', async () => {
  for (const marker of ABI_MARKERS) {
    const markers = exportsOf(await wasmFixture('set-header', { marker })).filter((e) => MARKER_EXPORT.test(e));
    assert.deepEqual(markers, marker === 'none' ? [] : [`proxy_abi_version_${marker.replace(/\./g, '_')}`]);
  }
  const own = exportsOf(await wasmFixture('set-header')).filter((e) => MARKER_EXPORT.test(e));
  assert.deepEqual(own, ['proxy_abi_version_0_2_1']);
});

test('wasmFixture hands out copies, so a caller that patches bytes does not change the next caller', async () => {
  const first = await wasmFixture('set-header');
  first.fill(0);
  assert.ok(WebAssembly.validate(await wasmFixture('set-header')));
});

test('an unknown fixture name is refused naming the known ones', async () => {
  await assert.rejects(wasmFixture('does-not-exist'), /no wasm fixture "does-not-exist".*set-header/);
  await assert.rejects(wasmFixture('../prelude'), /not a plain name/);
  await assert.rejects(wasmFixture('prelude'), /no wasm fixture/);
});

test('wat string escapes decode to their bytes', () => {
  assert.deepEqual([...decodeWatString('a\\n\\00\\ff\\"\\\\')], [97, 10, 0, 255, 34, 92]);
  assert.deepEqual([...decodeWatString('\\u{e9}')], [0xc3, 0xa9]);
  assert.throws(() => decodeWatString('\\q'), /bad escape/);
});

test('pairs are encoded as count, sizes, then NUL-terminated keys and values', () => {
  const enc = new TextEncoder();
  const bytes = encodePairs([[enc.encode('a'), enc.encode('12')], [enc.encode('bc'), enc.encode('')]]);
  assert.deepEqual([...bytes], [
    2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,
    97, 0, 49, 50, 0, 98, 99, 0, 0,
  ]);
});

test('constants land in data segments that the expanded source points at', () => {
  const source = expandFixtureSource('local-response');
  const segment = /\(data \(i32\.const (\d+)\) "((?:\\[0-9a-f]{2})*)"\)/g;
  const bytesAt = new Map<number, string>();
  for (const m of source.matchAll(segment)) {
    bytesAt.set(Number(m[1]), Buffer.from(m[2]!.replace(/\\/g, ''), 'hex').toString('latin1'));
  }
  assert.ok([...bytesAt.values()].includes("I'm a teapot\n"), [...bytesAt.values()].join('|'));
  assert.ok(!/\((str|pairs)\b/.test(source));
});
