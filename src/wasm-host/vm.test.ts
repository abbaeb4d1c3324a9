// The host parts the fixtures do not drive through a gateway: shared queues, proxy_done after
// on_done said "not yet", a plugin asking for a fresh VM (Higress's wasm_need_rebuild), and
// late http_call answers for a request that is gone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import wabt from 'wabt';
import { createTestContext } from '../../test/helpers/plugin-context.js';
import { wasmPlugin } from './wasm-plugin.js';
import { localMetrics, localQueues, sharedDataOf } from './local-services.js';
import type { VmServices } from './services.js';
import { Status } from './abi/constants.js';
import type { PluginContext } from '../contracts/plugin.js';

const log = pino({ level: 'silent' });

async function compile(body: string): Promise<WebAssembly.Module> {
  const tools = await wabt();
  const mod = tools.parseWat('t.wat', `(module
    (import "env" "proxy_register_shared_queue" (func $register (param i32 i32 i32) (result i32)))
    (import "env" "proxy_enqueue_shared_queue" (func $enqueue (param i32 i32 i32) (result i32)))
    (import "env" "proxy_dequeue_shared_queue" (func $dequeue (param i32 i32 i32) (result i32)))
    (import "env" "proxy_done" (func $done (result i32)))
    (import "env" "proxy_set_property" (func $set_property (param i32 i32 i32 i32) (result i32)))
    (import "env" "proxy_replace_header_map_value" (func $replace (param i32 i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 2)
    (global $heap (mut i32) (i32.const 4096))
    (func (export "malloc") (param $n i32) (result i32) (local $p i32)
      (local.set $p (global.get $heap)) (global.set $heap (i32.add (global.get $heap) (local.get $n))) (local.get $p))
    (func (export "proxy_abi_version_0_2_1"))
    (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
    (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
    ${body})`);
  try {
    return new WebAssembly.Module(mod.toBinary({}).buffer as Uint8Array<ArrayBuffer>);
  } finally {
    mod.destroy();
  }
}

const services: VmServices = { httpCall: () => 2, sharedData: () => sharedDataOf('vm-test'), queues: localQueues, metrics: localMetrics };

function plugin(module: WebAssembly.Module, name: string) {
  return wasmPlugin({ name, version: '1', stage: 'default', priority: 0, module, rootId: name, failStrategy: 'FAIL_CLOSE',
    callTimeoutMs: 500, memoryLimitBytes: 16 << 20, services, log });
}

async function run(p: ReturnType<typeof plugin>, ctx: PluginContext): Promise<void> {
  const prepared = p.prepare!({}, { metadata: undefined, consumers: [] });
  await p.rewrite!(prepared, ctx);
  await p.header_filter!(prepared, ctx);
  await p.log!(prepared, ctx);
}

test('shared queues: a root registers, a request enqueues, the root is told and dequeues', async () => {
  // data: "q" at 100; the queue id kept at 200; dequeue out-params at 300/304; the dequeued byte copied to 400
  const module = await compile(`
    (data (i32.const 100) "q") (data (i32.const 110) "x-dequeued") (data (i32.const 120) "hello")
    (global $root (mut i32) (i32.const 0))
    (func (export "proxy_on_context_create") (param $id i32) (param $parent i32)
      (if (i32.eqz (local.get $parent)) (then
        (global.set $root (local.get $id))
        (drop (call $register (i32.const 100) (i32.const 1) (i32.const 200))))))
    (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
      (drop (call $enqueue (i32.load (i32.const 200)) (i32.const 120) (i32.const 5))) (i32.const 0))
    (func (export "proxy_on_queue_ready") (param $root i32) (param $q i32)
      (if (i32.eqz (call $dequeue (local.get $q) (i32.const 300) (i32.const 304)))
        (then (i32.store (i32.const 400) (i32.load (i32.const 304))))))
    (func (export "proxy_get_dequeued_size") (result i32) (i32.load (i32.const 400)))`);
  const p = plugin(module, 'queues');
  await run(p, createTestContext());
  await new Promise((r) => setImmediate(r));
  const vm = p.runtime.acquire();
  const size = (vm as unknown as { instance: WebAssembly.Instance }).instance.exports.proxy_get_dequeued_size as () => number;
  assert.equal(size(), 5, 'the root dequeued the 5 bytes the request enqueued');
});

test('on_done answering "not yet": on_log and on_delete wait for proxy_done', async () => {
  const module = await compile(`
    (global $logged (mut i32) (i32.const 0)) (global $deleted (mut i32) (i32.const 0)) (global $stream (mut i32) (i32.const 0))
    (func (export "proxy_on_context_create") (param $id i32) (param $parent i32)
      (if (local.get $parent) (then (global.set $stream (local.get $id)))))
    (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))
    (func (export "proxy_on_done") (param i32) (result i32) (i32.const 0))
    (func (export "proxy_on_log") (param i32) (global.set $logged (i32.add (global.get $logged) (i32.const 1))))
    (func (export "proxy_on_delete") (param i32) (global.set $deleted (i32.add (global.get $deleted) (i32.const 1))))
    (func (export "finish_now") (result i32) (call $done))
    (func (export "counts") (result i32) (i32.add (i32.mul (global.get $logged) (i32.const 10)) (global.get $deleted)))`);
  const p = plugin(module, 'done');
  await run(p, createTestContext());
  const vm = p.runtime.acquire();
  const ex = (vm as unknown as { instance: WebAssembly.Instance }).instance.exports as Record<string, () => number>;
  assert.equal(ex.counts!(), 0, 'nothing logged before proxy_done');
  // proxy_done acts on the effective context: run it as the stream would, from a callback
  const stream = (vm as unknown as { liveStreams: unknown[] }).liveStreams[0];
  assert.ok(stream !== undefined, 'the stream waits for proxy_done');
  vm.invoke('finish_now', ex.finish_now!, stream as never, 0);
  await new Promise((r) => queueMicrotask(() => r(undefined)));
  assert.equal(ex.counts!(), 11, 'on_log and on_delete ran once each');
});

test('wasm_need_rebuild: the next request gets a fresh VM, the current one finishes first', async () => {
  const module = await compile(`
    (data (i32.const 100) "wasm_need_rebuild") (data (i32.const 130) "true") (data (i32.const 140) "x-n")
    (global $n (mut i32) (i32.const 48))
    (func (export "proxy_on_context_create") (param i32 i32))
    (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
      ;; x-n: how many requests this instance saw ('0', '1', ...)
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (i32.store8 (i32.const 150) (global.get $n))
      (drop (call $replace (i32.const 0) (i32.const 140) (i32.const 3) (i32.const 150) (i32.const 1)))
      (drop (call $set_property (i32.const 100) (i32.const 17) (i32.const 130) (i32.const 4)))
      (i32.const 0))`);
  const p = plugin(module, 'rebuild');
  const a = createTestContext();
  const b = createTestContext();
  await run(p, a);
  await run(p, b);
  assert.equal(a.request.headers['x-n'], '1');
  assert.equal(b.request.headers['x-n'], '1', 'a fresh VM counted from the start again');
  assert.equal(p.runtime.builds, 2);
});

test('a trap in on_response_headers (FAIL_CLOSE) replaces the response with a 500 and its body', async () => {
  const module = await compile(`
    (func (export "proxy_on_context_create") (param i32 i32))
    (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))
    (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) unreachable)`);
  const p = plugin(module, 'trap-response');
  const ctx = createTestContext({ status: 200, responseHeaders: { 'x-upstream': 'yes', 'content-type': 'application/json' } });
  const prepared = p.prepare!({}, { metadata: undefined, consumers: [] });
  await p.rewrite!(prepared, ctx);
  await p.header_filter!(prepared, ctx);
  assert.equal(ctx.response.status, 500);
  assert.equal(ctx.response.header('x-upstream'), undefined, 'the upstream headers are gone');
  assert.equal(ctx.response.header('content-type'), 'text/plain');
  const first = await p.body_filter!(prepared, ctx, Buffer.from('upstream body'), false);
  const last = await p.body_filter!(prepared, ctx, Buffer.alloc(0), true);
  assert.equal(Buffer.concat([Buffer.from(first ?? ''), Buffer.from(last ?? '')]).toString(), 'Internal Server Error\n');
});

test('streams ending out of order: each stays reachable by its id until it ends', async () => {
  const module = await compile(`(func (export "proxy_on_context_create") (param i32 i32))`);
  const vm = plugin(module, 'slots').runtime.acquire();
  const fake = (): Parameters<typeof vm.register>[0] => ({ kind: 'stream', id: vm.allocateId(), slot: -1 }) as never;
  const streams = [fake(), fake(), fake(), fake()];
  for (const s of streams) vm.register(s);
  vm.unregister(streams[1]!);
  vm.unregister(streams[1]!); // a second end is a no-op, not the removal of another stream
  vm.unregister(streams[0]!);
  assert.equal(vm.setEffective(streams[0]!.id), Status.BAD_ARGUMENT, 'an ended stream is unknown');
  assert.equal(vm.setEffective(streams[1]!.id), Status.BAD_ARGUMENT);
  assert.equal(vm.setEffective(streams[2]!.id), Status.OK, 'a live stream is found after others moved');
  assert.equal(vm.setEffective(streams[3]!.id), Status.OK);
  assert.equal(vm.effective(), streams[3]);
  vm.unregister(streams[3]!);
  vm.unregister(streams[2]!);
  assert.equal((vm as unknown as { liveStreams: unknown[] }).liveStreams.length, 0);
});
