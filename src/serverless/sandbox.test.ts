import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox, SessionLimitError } from './sandbox.js';
import { DeadlineError, MAX_LOG_LINES, MAX_TIMERS, type CallOutcome } from './session.js';
import { makeTestContext } from '../../test/helpers/plugin-context-transform.js';

// The isolate itself: what user code can reach, the deadline, the memory limit, and the
// per-request context's life. Each makeTestContext() is one request.

const box = new Sandbox({ memoryLimitMb: 16, timeoutMs: 100 });

function run(source: string, ctx = makeTestContext(), mode: 'request' | 'ignore' = 'request'): CallOutcome | Promise<CallOutcome> {
  const entry = { source, label: 'plugins.test.functions[0]' };
  return box.session(ctx).call('test', box.compile(entry), {}, mode);
}

test('the gateway realm is unreachable: no process, require, import, files, env or Node globals', async () => {
  const probe = `() => {
    const seen = {};
    seen.process = typeof process;
    seen.require = typeof require;
    seen.module = typeof module;
    seen.fetch = typeof fetch;
    try { seen.viaCtor = String(globalThis.constructor.constructor('return typeof process')()); } catch (e) { seen.viaCtor = e.name; }
    try { seen.viaFn = Function('return this')() === globalThis ? 'isolate global' : 'other'; } catch (e) { seen.viaFn = e.name; }
    try { globalThis.constructor.constructor('return process')(); seen.process2 = 'reached'; } catch (e) { seen.process2 = e.name; }
    return { status: 200, body: seen };
  }`;
  const out = (await run(probe)) as CallOutcome;
  assert.deepEqual(out.body, {
    process: 'undefined', require: 'undefined', module: 'undefined', fetch: 'undefined',
    viaCtor: 'undefined', viaFn: 'isolate global', process2: 'ReferenceError',
  });
  // a dynamic import (the only way to a module, hence to a file) has no loader behind it
  const imported = (await run("async () => { try { await import('node:fs'); return [200, 'imported'] } catch (e) { return [200, 'refused'] } }")) as CallOutcome;
  assert.equal(imported.body, 'refused');
  // WebAssembly memory would be allocated outside the isolate's heap limit
  const wasm = (await run("() => [200, typeof WebAssembly + ':' + typeof globalThis.WebAssembly]")) as CallOutcome;
  assert.equal(wasm.body, 'undefined:undefined');
  const env = (await run("() => [200, typeof globalThis.process === 'undefined' && typeof Deno === 'undefined' && typeof Bun === 'undefined' ? 'no env' : 'env']")) as CallOutcome;
  assert.equal(env.body, 'no env');
});

test('ctx gives plain data only: a consumer without its plugins (credentials), no gateway objects', async () => {
  const ctx = makeTestContext();
  (ctx as { consumer: unknown }).consumer = { username: 'jack', plugins: { 'key-auth': { key: 'secret-key' } }, labels: { team: 'a' } };
  const out = (await run('(conf, ctx) => [200, JSON.stringify(ctx.consumer) + typeof ctx.log.info + typeof ctx.request.constructor]', ctx)) as CallOutcome;
  assert.equal(out.body, '{"username":"jack","labels":{"team":"a"}}functionfunction');
  assert.doesNotMatch(String(out.body), /secret-key/);
  ctx.finish();
});

test('an infinite loop fails its call at the deadline; the isolate keeps serving', () => {
  const ctx = makeTestContext();
  assert.throws(() => run('() => { while (true) {} }', ctx), (e) => e instanceof DeadlineError && /did not finish within its 100 ms deadline/.test(e.message));
  ctx.finish();
  assert.deepEqual(run('() => 204'), { status: 204 });
});

test('a promise that does not settle in time fails at the same deadline', async () => {
  const ctx = makeTestContext();
  await assert.rejects(async () => run('async () => { await new Promise((r) => setTimeout(r, 60000)) }', ctx),
    (e) => e instanceof DeadlineError);
  ctx.finish();
});

test('an allocation bomb loses the isolate: that call fails, the next request gets a new isolate', () => {
  // a deadline long enough for the heap to fill first (filling 16 MB takes 0.1-0.4 s here)
  const roomy = new Sandbox({ memoryLimitMb: 16, timeoutMs: 30_000 });
  const call = (source: string, ctx = makeTestContext()) =>
    roomy.session(ctx).call('test', roomy.compile({ source, label: 'plugins.test.functions[0]' }), {}, 'request');
  const ctx = makeTestContext();
  const other = makeTestContext();
  assert.deepEqual(call('() => 200', other), { status: 200 });
  assert.throws(() => call('() => { const a = []; while (true) a.push(new Array(1000000).fill(1.5)) }', ctx),
    /plugins\.test\.functions\[0\] ran the serverless isolate out of memory \(limit 16 MB\)/);
  assert.equal(roomy.liveSessions, 1, 'the failed request\'s context is gone with the isolate');
  ctx.finish();
  // a request that had its context in the lost isolate fails its next function, plainly
  assert.throws(() => call('() => 200', other), /plugins\.test\.functions\[0\]: the serverless isolate was lost during this request/);
  assert.deepEqual(call('() => 201'), { status: 201 });
  assert.equal(roomy.builds, 2);
  other.finish();
  roomy.dispose();
});

test('one ctx per request: what one function stores the next one sees; a new request starts empty', async () => {
  const ctx = makeTestContext();
  run('(conf, ctx) => { ctx.note = "first"; ctx.shared.set("n", 1) }', ctx);
  const out = run('(conf, ctx) => [200, ctx.note + ":" + ctx.shared.get("n")]', ctx) as CallOutcome;
  assert.equal(out.body, 'first:1');
  ctx.finish();
  const fresh = run('(conf, ctx) => [200, String(ctx.note)]') as CallOutcome;
  assert.equal(fresh.body, 'undefined');
});

test('finishing the request releases its context and cancels its timers', async () => {
  const open = box.liveSessions;
  const ctx = makeTestContext();
  run("(conf, ctx) => { setTimeout(() => ctx.setVar('late', 'ran'), 30) }", ctx);
  assert.equal(box.liveSessions, open + 1);
  ctx.finish();
  assert.equal(box.liveSessions, open);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(ctx.setVars.has('late'), false);
});

test('past the context budget a request gets SessionLimitError (its 503), not an isolate out of memory', () => {
  const small = new Sandbox({ memoryLimitMb: 8, timeoutMs: 100 });
  const held: ReturnType<typeof makeTestContext>[] = [];
  for (let i = 0; i < small.maxSessions; i++) {
    const ctx = makeTestContext();
    small.session(ctx);
    held.push(ctx);
  }
  assert.throws(() => small.session(makeTestContext()), SessionLimitError);
  held.pop()!.finish();
  assert.doesNotThrow(() => small.session(held[0]!));
  for (const ctx of held) ctx.finish();
  assert.equal(small.liveSessions, 0);
  small.dispose();
});

test('spare contexts are made ahead, off the event loop; a request takes one; those of a lost isolate are dropped', async () => {
  const s = new Sandbox({ memoryLimitMb: 16, timeoutMs: 30_000 });
  const entry = (source: string) => s.compile({ source, label: 'plugins.test.functions[0]' });
  const first = makeTestContext();
  s.session(first);
  first.finish();
  for (let i = 0; i < 500 && s.spareContexts < 4; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(s.spareContexts, 4);
  const ctx = makeTestContext();
  const session = s.session(ctx);
  assert.equal(s.spareContexts, 3, 'the request took a spare');
  assert.deepEqual(session.call('test', entry('(conf, ctx) => [200, typeof ctx.request.header]'), {}, 'request'), { status: 200, body: 'function' });
  assert.throws(() => session.call('test', entry('() => { const a = []; while (true) a.push(new Array(1000000).fill(1.5)) }'), {}, 'request'),
    /out of memory/);
  ctx.finish();
  const next = makeTestContext();
  assert.deepEqual(s.session(next).call('test', entry('() => 200'), {}, 'request'), { status: 200 });
  assert.equal(s.builds, 2);
  next.finish();
  s.dispose();
});

test('a request cannot pile up timers or log lines outside the isolate\'s heap', () => {
  const ctx = makeTestContext();
  const lines: unknown[] = [];
  (ctx as { log: unknown }).log = { info: (...args: unknown[]) => lines.push(args), debug() {}, warn() {}, error() {} };
  const out = run(`(conf, ctx) => {
    let made = 0;
    try { for (let i = 0; i < 1000; i++) { setTimeout(() => {}, 60000); made++ } } catch (e) { return [200, made + ' ' + e.message] }
  }`, ctx) as CallOutcome;
  assert.equal(out.body, `${MAX_TIMERS} a request may have at most ${MAX_TIMERS} timers pending`);
  run("(conf, ctx) => { for (let i = 0; i < 1000; i++) ctx.log.info('line', i) }", ctx);
  assert.equal(lines.length, MAX_LOG_LINES);
  assert.deepEqual(lines[0], [{ plugin: 'test' }, 'test: line 0']);
  ctx.finish();
});
