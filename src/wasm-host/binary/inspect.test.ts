import { test } from 'node:test';
import assert from 'node:assert/strict';
import { wat } from '../../../test/helpers/wat.js';
import { inspectModule } from './inspect.js';

const fn = (name: string): string => `(func (export "${name}"))`;

test('every proxy-wasm ABI marker is recognised; none means undefined', async () => {
  const markers = { proxy_abi_version_0_1_0: '0.1.0', proxy_abi_version_0_2_0: '0.2.0', proxy_abi_version_0_2_1: '0.2.1', proxy_abi_version_0_2_100: '0.2.100' };
  for (const [marker, version] of Object.entries(markers)) {
    assert.equal(inspectModule(await wat(`(module ${fn(marker)})`)).abiVersion, version);
  }
  assert.equal(inspectModule(await wat(`(module ${fn('proxy_abi_version_9_9_9')})`)).abiVersion, undefined);
  // A global named like a marker is not a marker.
  assert.equal(inspectModule(await wat('(module (global (export "proxy_abi_version_0_2_1") i32 (i32.const 0)))')).abiVersion, undefined);
});

test('start styles: _initialize wins over _start; a start section alone; none', async () => {
  const both = inspectModule(await wat(`(module ${fn('_start')} ${fn('_initialize')})`));
  assert.equal(both.startStyle, '_initialize');
  assert.equal(inspectModule(await wat(`(module ${fn('_start')})`)).startStyle, '_start');
  const section = inspectModule(await wat('(module (func $s) (start $s))'));
  assert.deepEqual([section.startStyle, section.hasStartSection], ['start-section', true]);
  const coexisting = inspectModule(await wat(`(module (func $s) (start $s) ${fn('_initialize')})`));
  assert.deepEqual([coexisting.startStyle, coexisting.hasStartSection], ['_initialize', true]);
  assert.equal(inspectModule(await wat('(module)')).startStyle, 'none');
});

test('allocator: malloc, proxy_on_memory_allocate, malloc when both, undefined when neither', async () => {
  const alloc = (name: string): string => `(func (export "${name}") (param i32) (result i32) (i32.const 0))`;
  assert.equal(inspectModule(await wat(`(module ${alloc('malloc')})`)).allocator, 'malloc');
  assert.equal(inspectModule(await wat(`(module ${alloc('proxy_on_memory_allocate')})`)).allocator, 'proxy_on_memory_allocate');
  assert.equal(inspectModule(await wat(`(module ${alloc('proxy_on_memory_allocate')} ${alloc('malloc')})`)).allocator, 'malloc');
  assert.equal(inspectModule(await wat(`(module ${fn('free')})`)).allocator, undefined);
});

test('imports, exports, memory and custom section names', async () => {
  const info = inspectModule(await wat(`(module
    (import "env" "proxy_log" (func (param i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 2 20)
    ${fn('proxy_on_vm_start')})`, { names: true }));
  assert.deepEqual(info.imports, [
    { module: 'env', name: 'proxy_log', kind: 'func' },
    { module: 'wasi_snapshot_preview1', name: 'fd_write', kind: 'func' },
  ]);
  assert.deepEqual(info.exports, [{ name: 'memory', kind: 'memory' }, { name: 'proxy_on_vm_start', kind: 'func' }]);
  assert.deepEqual(info.memory, { initialPages: 2, maxPages: 20, imported: false, shared: false });
  assert.deepEqual(info.customSections, ['name']);
  assert.equal(inspectModule(await wat('(module)')).memory, undefined);
});
