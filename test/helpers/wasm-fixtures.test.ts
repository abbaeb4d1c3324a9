import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import wabtInit from 'wabt';
import {
  ABI_MARKERS, AS_BUILD_DIR, AS_FIXTURES, REPO_ROOT, asFixture, decodeWatString, encodePairs,
  WASM_FIXTURES, WAT_FIXTURE_DIR, ensureAsFixturesBuilt, expandFixtureSource, listWasmFixtures, wasmFixture,
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
  assert.deepEqual([...WASM_FIXTURES].sort(), listWasmFixtures(), 'WASM_FIXTURES names exactly the .wat files');
  for (const name of WASM_FIXTURES) {
    const binary = await wasmFixture(name);
    assert.ok(WebAssembly.validate(binary), `${name} does not validate`);
  }
});

test('every fixture exports memory, an allocator, a marker and the lifecycle callbacks unless it exists to lack one', async () => {
  for (const name of WASM_FIXTURES) {
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
  for (const name of WASM_FIXTURES) {
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

async function disassemble(binary: Uint8Array): Promise<string> {
  const wabt = await wabtInit();
  const module = wabt.readWasm(binary, { readDebugNames: false });
  try {
    return module.toText({});
  } finally {
    module.destroy();
  }
}

async function hasStartSection(binary: Uint8Array): Promise<boolean> {
  return /^\s*\(start /m.test(await disassemble(binary));
}

// The ABI's signatures (reference §2, §3, §5), written "params -> results".
const IMPORT_SIGNATURES: Record<string, string> = {
  'env.proxy_log': 'i32 i32 i32 -> i32',
  'env.proxy_get_buffer_bytes': 'i32 i32 i32 i32 i32 -> i32',
  'env.proxy_set_buffer_bytes': 'i32 i32 i32 i32 i32 -> i32',
  'env.proxy_get_header_map_value': 'i32 i32 i32 i32 i32 -> i32',
  'env.proxy_add_header_map_value': 'i32 i32 i32 i32 i32 -> i32',
  'env.proxy_replace_header_map_value': 'i32 i32 i32 i32 i32 -> i32',
  'env.proxy_remove_header_map_value': 'i32 i32 i32 -> i32',
  'env.proxy_send_local_response': 'i32 i32 i32 i32 i32 i32 i32 i32 -> i32',
  'env.proxy_http_call': 'i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 -> i32',
  'env.proxy_set_effective_context': 'i32 -> i32',
  'env.proxy_continue_stream': 'i32 -> i32',
  'env.proxy_set_tick_period_milliseconds': 'i32 -> i32',
  'env.proxy_get_shared_data': 'i32 i32 i32 i32 i32 -> i32',
  'env.proxy_set_shared_data': 'i32 i32 i32 i32 i32 -> i32',
  'env.proxy_define_metric': 'i32 i32 i32 i32 -> i32',
  'env.proxy_increment_metric': 'i32 i64 -> i32',
  'env.proxy_record_metric': 'i32 i64 -> i32',
  'env.proxy_get_property': 'i32 i32 i32 i32 -> i32',
  'wasi_snapshot_preview1.fd_write': 'i32 i32 i32 i32 -> i32',
  'wasi_unstable.fd_write': 'i32 i32 i32 i32 -> i32',
  'wasi_snapshot_preview1.proc_exit': 'i32 -> ',
  'wasi_unstable.proc_exit': 'i32 -> ',
  // the two deliberately unknown imports
  'env.proxy_not_a_real_call': ' -> i32',
  'foo.bar': ' -> i32',
};

const EXPORT_SIGNATURES: Record<string, string> = {
  malloc: 'i32 -> i32',
  proxy_on_memory_allocate: 'i32 -> i32',
  _start: ' -> ',
  _initialize: ' -> ',
  proxy_on_context_create: 'i32 i32 -> ',
  proxy_on_vm_start: 'i32 i32 -> i32',
  proxy_on_configure: 'i32 i32 -> i32',
  proxy_validate_configuration: 'i32 i32 -> i32',
  proxy_on_request_headers: 'i32 i32 i32 -> i32',
  proxy_on_request_body: 'i32 i32 i32 -> i32',
  proxy_on_request_trailers: 'i32 i32 -> i32',
  proxy_on_response_headers: 'i32 i32 i32 -> i32',
  proxy_on_response_body: 'i32 i32 i32 -> i32',
  proxy_on_response_trailers: 'i32 i32 -> i32',
  proxy_on_tick: 'i32 -> ',
  proxy_on_http_call_response: 'i32 i32 i32 i32 i32 -> ',
  proxy_on_queue_ready: 'i32 i32 -> ',
  proxy_on_done: 'i32 -> i32',
  proxy_on_log: 'i32 -> ',
  proxy_on_delete: 'i32 -> ',
};

/** "params -> results" of every imported and exported function, read from wabt's disassembly. */
async function signatures(binary: Uint8Array): Promise<{ imports: Map<string, string>; exports: Map<string, string> }> {
  const text = await disassemble(binary);
  const types = new Map<string, string>();
  for (const m of text.matchAll(/\(type \(;(\d+);\) \(func((?: \(param[^)]*\))?)((?: \(result[^)]*\))?)\)\)/g)) {
    const params = m[2]!.replace(/[()]|param/g, '').trim();
    const results = m[3]!.replace(/[()]|result/g, '').trim();
    types.set(m[1]!, `${params} -> ${results}`);
  }
  const funcType = new Map<string, string>();
  const imports = new Map<string, string>();
  for (const m of text.matchAll(/\(import "([^"]+)" "([^"]+)" \(func \(;(\d+);\) \(type (\d+)\)\)\)/g)) {
    funcType.set(m[3]!, types.get(m[4]!)!);
    imports.set(`${m[1]}.${m[2]}`, types.get(m[4]!)!);
  }
  for (const m of text.matchAll(/^\s*\(func \(;(\d+);\) \(type (\d+)\)/gm)) funcType.set(m[1]!, types.get(m[2]!)!);
  const exports = new Map<string, string>();
  for (const m of text.matchAll(/\(export "([^"]+)" \(func (\d+)\)\)/g)) exports.set(m[1]!, funcType.get(m[2]!)!);
  return { imports, exports };
}

function expectedExport(name: string, fixture: string): string | undefined {
  if (MARKER_EXPORT.test(name)) return ' -> ';
  if (fixture === 'abi-0-1-0' && name === 'proxy_on_request_headers') return 'i32 i32 -> i32';
  return EXPORT_SIGNATURES[name];
}

test('every fixture import and callback has the ABI signature (0.1.0 headers callbacks take two params)', async () => {
  const binaries: Array<[string, Uint8Array]> = [];
  for (const name of WASM_FIXTURES) binaries.push([name, await wasmFixture(name)]);
  for (const name of Object.keys(AS_FIXTURES) as Array<keyof typeof AS_FIXTURES>) binaries.push([name, await asFixture(name)]);
  for (const [name, binary] of binaries) {
    const { imports, exports } = await signatures(binary);
    assert.ok(imports.size > 0 && exports.size > 0, name);
    for (const [imported, signature] of imports) {
      assert.equal(signature, IMPORT_SIGNATURES[imported], `${name} imports ${imported}`);
    }
    for (const [exported, signature] of exports) {
      const expected = expectedExport(exported, name);
      if (expected !== undefined) assert.equal(signature, expected, `${name} exports ${exported}`);
    }
  }
  const old = await signatures(await wasmFixture('abi-0-1-0'));
  assert.equal(old.exports.get('proxy_on_request_headers'), 'i32 i32 -> i32');
});

test('the AssemblyScript SDK sample builds and imports what the reference lists (wasi_unstable.proc_exit)', async () => {
  const binary = await asFixture('as-add-header');
  assert.ok(WebAssembly.validate(binary));
  const imported = importsOf(binary).map((i) => `${i.module}.${i.name}`).sort();
  assert.deepEqual(imported, [
    'env.proxy_add_header_map_value', 'env.proxy_get_buffer_bytes', 'env.proxy_get_property', 'env.proxy_log',
    'env.proxy_set_effective_context', 'wasi_unstable.proc_exit',
  ]);
  const exported = exportsOf(binary);
  for (const name of ['memory', 'malloc', 'proxy_abi_version_0_2_0', 'proxy_on_context_create', 'proxy_on_configure',
    'proxy_on_response_headers', 'proxy_validate_configuration', 'proxy_on_grpc_trailing_metadata']) {
    assert.ok(exported.includes(name), `as-add-header exports ${name}`);
  }
  assert.ok(!exported.includes('_start') && !exported.includes('_initialize'));
  assert.ok(await hasStartSection(binary), 'AssemblyScript starts through the start section');
  assert.equal(AS_FIXTURES['as-add-header'].rootId, 'add_header');
});

test('the own AssemblyScript plugin imports the http-call surface and only env and wasi_unstable', async () => {
  const binary = await asFixture('as-http-auth');
  assert.ok(WebAssembly.validate(binary));
  const imports = importsOf(binary);
  assert.deepEqual([...new Set(imports.map((i) => i.module))].sort(), ['env', 'wasi_unstable']);
  const names = imports.map((i) => i.name);
  for (const name of ['proxy_http_call', 'proxy_send_local_response', 'proxy_continue_stream', 'proxy_set_effective_context',
    'proxy_get_header_map_value', 'proxy_add_header_map_value', 'proxy_get_buffer_bytes', 'proxy_get_property']) {
    assert.ok(names.includes(name), `as-http-auth imports ${name}`);
  }
  const exported = exportsOf(binary);
  assert.ok(exported.includes('proxy_abi_version_0_2_0') && exported.includes('proxy_on_http_call_response'));
});

test('a second AssemblyScript build run finds everything up to date and rewrites nothing', async () => {
  await ensureAsFixturesBuilt();
  const outputs = Object.keys(AS_FIXTURES).map((name) => join(AS_BUILD_DIR, `${name}.wasm`));
  const before = outputs.map((path) => statSync(path).mtimeMs);
  const report = execFileSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build-wasm-fixtures.mjs')], { encoding: 'utf8' });
  for (const name of Object.keys(AS_FIXTURES)) assert.match(report, new RegExp(`^${name}: up to date$`, 'm'));
  assert.deepEqual(outputs.map((path) => statSync(path).mtimeMs), before);
});

test('the fixture README has one table row per fixture, and no row for a fixture that does not exist', () => {
  const readme = readFileSync(join(WAT_FIXTURE_DIR, 'README.md'), 'utf8');
  const rows = [...readme.matchAll(/^\| `([a-z0-9-]+)` \|/gm)].map((m) => m[1]!).sort();
  const expected = [...listWasmFixtures(), ...Object.keys(AS_FIXTURES)].sort();
  assert.deepEqual(rows, expected);
});
