import { test } from 'node:test';
import assert from 'node:assert/strict';
import plugin from './serverless-pre-function.js';
import post from './serverless-post-function.js';
import { makeTestContext, prepareConf, schemaError, type TestContextInit } from '../../test/helpers/plugin-context-transform.js';
import type { PhaseResult } from '../contracts/plugin.js';

// Every function runs in the worker's isolate (src/serverless/); each test context is one
// request, finished at the end so its isolate context is released.
function request(init?: TestContextInit) {
  return makeTestContext(init);
}

test('pre and post share the authorization stage; pre 960 runs before post -2000', () => {
  assert.equal(plugin.name, 'serverless-pre-function');
  assert.equal(post.name, 'serverless-post-function');
  assert.equal(plugin.stage, 'authorization');
  assert.equal(post.stage, 'authorization');
  assert.equal(plugin.priority, 960);
  assert.equal(post.priority, -2000);
});

test('functions run in the configured phase only (default access)', async () => {
  const p = prepareConf(plugin, { functions: ["(conf, ctx) => { ctx.request.setHeader('x-a', conf.phase) }"] });
  const ctx = request();
  await plugin.rewrite!(p, ctx);
  assert.equal(ctx.requestHeaders.has('x-a'), false);
  await plugin.access!(p, ctx);
  assert.equal(ctx.requestHeaders.get('x-a'), 'access');
  ctx.finish();
});

test('every phase can be chosen', async () => {
  for (const phase of ['rewrite', 'access', 'before_proxy', 'header_filter', 'body_filter', 'log'] as const) {
    const p = prepareConf(plugin, { phase, functions: ['(conf, ctx) => { ctx.setVar("ran", conf.phase) }'] });
    const ctx = request();
    await plugin.rewrite!(p, ctx);
    await plugin.access!(p, ctx);
    await plugin.before_proxy!(p, ctx);
    plugin.header_filter!(p, ctx);
    plugin.body_filter!(p, ctx, Buffer.from('x'), true);
    await plugin.log!(p, ctx);
    assert.equal(ctx.setVars.get('ran'), phase);
    ctx.finish();
  }
});

test('functions run in order and may end the request (object, number, [code, body])', async () => {
  const p = prepareConf(plugin, {
    phase: 'rewrite',
    functions: [
      "(conf, ctx) => { ctx.order = ['one'] }",
      "(conf, ctx) => { ctx.order.push('two'); ctx.setVar('order', ctx.order.join()); return { status: 403, body: { message: 'no' }, headers: { 'x-why': 'fn' } } }",
      "(conf, ctx) => { ctx.setVar('order', 'three ran') }",
    ],
  });
  const ctx = request();
  assert.deepEqual(await plugin.rewrite!(p, ctx), { status: 403, body: { message: 'no' }, headers: { 'x-why': 'fn' } });
  assert.equal(ctx.setVars.get('order'), 'one,two');
  ctx.finish();
  const n = prepareConf(plugin, { functions: ['() => 401'] });
  assert.deepEqual(await plugin.access!(n, request()), { status: 401 });
  const pair = prepareConf(plugin, { functions: ["() => [200, 'hello']"] });
  assert.deepEqual(await plugin.access!(pair, request()), { status: 200, body: 'hello' });
});

test('async functions are awaited, in order (setTimeout runs in the isolate)', async () => {
  const p = prepareConf(plugin, {
    functions: [
      "async (conf, ctx) => { await new Promise((r) => setTimeout(r, 20)); ctx.shared.set('a', 1) }",
      "(conf, ctx) => { if (ctx.shared.get('a') === 1) return { status: 202, body: 'after' } }",
    ],
  });
  const ctx = request();
  const r = plugin.access!(p, ctx);
  assert.ok(r instanceof Promise);
  assert.deepEqual(await r, { status: 202, body: 'after' });
  ctx.finish();
});

test('synchronous functions answer synchronously', () => {
  const p = prepareConf(plugin, { functions: ['() => undefined'] });
  const ctx = request();
  assert.equal(plugin.access!(p, ctx), undefined);
  ctx.finish();
});

test('the APISIX shape "return function (conf, ctx) …" is accepted', async () => {
  const p = prepareConf(plugin, { functions: ["return function (conf, ctx) {\n  ctx.request.setHeader('x-b', 'yes');\n}"] });
  const ctx = request();
  await plugin.access!(p, ctx);
  assert.equal(ctx.requestHeaders.get('x-b'), 'yes');
  ctx.finish();
});

test('functions see conf, ctx.var (called or as properties), and the request', async () => {
  const p = prepareConf(plugin, { functions: ["(conf, ctx) => ({ status: 200, body: ctx.var('arg_x') + ':' + ctx.var.arg_x + ':' + ctx.request.method + ':' + conf.functions.length })"] });
  const ctx = request({ target: '/?x=42', method: 'PUT' });
  assert.deepEqual(await plugin.access!(p, ctx), { status: 200, body: '42:42:PUT:1' });
  ctx.finish();
});

test('body_filter functions may replace the chunk (Buffer works inside the isolate)', () => {
  const p = prepareConf(plugin, {
    phase: 'body_filter',
    functions: ['(conf, ctx, chunk, eof) => chunk.toString().toUpperCase()', '(conf, ctx, chunk, eof) => eof ? Buffer.concat([chunk, Buffer.from("!é")]) : undefined'],
  });
  const ctx = request();
  assert.equal(plugin.body_filter!(p, ctx, Buffer.from('ab'), false)!.toString(), 'AB');
  assert.equal(plugin.body_filter!(p, ctx, Buffer.from('cdé'), true)!.toString(), 'CDÉ!é');
  const keep = prepareConf(plugin, { phase: 'body_filter', functions: ['() => {}'] });
  assert.equal(plugin.body_filter!(keep, ctx, Buffer.from('x'), true), undefined);
  ctx.finish();
});

test('header_filter functions change the response', () => {
  const p = prepareConf(plugin, { phase: 'header_filter', functions: ["(conf, ctx) => { ctx.response.setHeader('x-h', String(ctx.response.status)); ctx.response.status = 299 }"] });
  const ctx = request({ response: { status: 200 } });
  plugin.header_filter!(p, ctx);
  assert.equal(ctx.responseHeaders.get('x-h'), '200');
  assert.equal(ctx.response.status, 299);
  ctx.finish();
});

test('a function that throws at request time propagates (the runner makes it a 500)', async () => {
  const p = prepareConf(plugin, { functions: ["() => { throw new Error('boom') }"] });
  assert.throws(() => plugin.access!(p, request()), /boom/);
  const q = prepareConf(plugin, { functions: ["async () => { throw new Error('later') }"] });
  await assert.rejects(async () => (await plugin.access!(q, request())) as PhaseResult, /later/);
});

test('top-level code runs in each request\'s own context: nothing carries over between requests', async () => {
  const p = prepareConf(plugin, { functions: ['(() => { let n = 0; return () => ({ status: 200, body: String(++n) }) })()'] });
  for (let i = 0; i < 2; i++) {
    const ctx = request();
    assert.deepEqual(await plugin.access!(p, ctx), { status: 200, body: '1' });
    ctx.finish();
  }
});

test('prepare compiles only: syntax errors are refused naming the entry, nothing runs', async () => {
  assert.throws(() => prepareConf(plugin, { functions: ['() => {}', '(conf, ctx) => {'] }),
    /failed to compile plugins\.serverless-pre-function\.functions\[1\]: SyntaxError/);
  assert.throws(() => prepareConf(plugin, { functions: ['return function (conf, ctx) ngx.say("lua") end'] }), /SyntaxError/);
  // top-level code that would throw, loop or exit is not run by prepare...
  const throws = prepareConf(plugin, { functions: ['(() => { throw new Error("top level ran") })()'] });
  const loops = prepareConf(plugin, { functions: ['(() => { while (true) {} })()'] });
  const notFn = prepareConf(plugin, { functions: ['42'] });
  // ...it runs in the isolate, for the request, and fails that request
  assert.throws(() => plugin.access!(throws, request()), /top level ran/);
  assert.throws(() => plugin.access!(loops, request()), /plugins\.serverless-pre-function\.functions\[0\] did not finish within its \d+ ms deadline/);
  assert.throws(() => plugin.access!(notFn, request()), /only accept JavaScript function, the input code type is number/);
});

test('schema errors name the field', () => {
  assert.match(schemaError(plugin, {})!, /property "functions" is required/);
  assert.match(schemaError(plugin, { functions: [] })!, /property "functions" validation failed/);
  assert.match(schemaError(plugin, { functions: [1] })!, /property "functions\[1\]" validation failed|functions/);
  assert.match(schemaError(plugin, { functions: ['() => {}'], phase: 'balancer' })!, /property "phase" validation failed/);
});
