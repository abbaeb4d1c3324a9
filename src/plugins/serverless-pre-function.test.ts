import { test } from 'node:test';
import assert from 'node:assert/strict';
import plugin from './serverless-pre-function.js';
import post from './serverless-post-function.js';
import { makeTestContext, prepareConf, schemaError } from '../../test/helpers/plugin-context-transform.js';
import type { PhaseResult } from '../contracts/plugin.js';

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
  const ctx = makeTestContext();
  await plugin.rewrite!(p, ctx);
  assert.equal(ctx.requestHeaders.has('x-a'), false);
  await plugin.access!(p, ctx);
  assert.equal(ctx.requestHeaders.get('x-a'), 'access');
});

test('every phase can be chosen', async () => {
  for (const phase of ['rewrite', 'access', 'before_proxy', 'header_filter', 'body_filter', 'log'] as const) {
    const p = prepareConf(plugin, { phase, functions: ['(conf, ctx) => { ctx.shared.set("ran", conf.phase) }'] });
    const ctx = makeTestContext();
    await plugin.rewrite!(p, ctx);
    await plugin.access!(p, ctx);
    await plugin.before_proxy!(p, ctx);
    plugin.header_filter!(p, ctx);
    plugin.body_filter!(p, ctx, Buffer.from('x'), true);
    await plugin.log!(p, ctx);
    assert.equal(ctx.shared.get('ran'), phase);
  }
});

test('functions run in order and may end the request (object, number, [code, body])', async () => {
  const p = prepareConf(plugin, {
    phase: 'rewrite',
    functions: [
      "(conf, ctx) => { ctx.shared.set('order', ['one']) }",
      "(conf, ctx) => { ctx.shared.get('order').push('two'); return { status: 403, body: { message: 'no' } } }",
      "(conf, ctx) => { ctx.shared.get('order').push('three') }",
    ],
  });
  const ctx = makeTestContext();
  assert.deepEqual(await plugin.rewrite!(p, ctx), { status: 403, body: { message: 'no' } });
  assert.deepEqual(ctx.shared.get('order'), ['one', 'two']);
  const n = prepareConf(plugin, { functions: ['() => 401'] });
  assert.deepEqual(await plugin.access!(n, makeTestContext()), { status: 401 });
  const pair = prepareConf(plugin, { functions: ["() => [200, 'hello']"] });
  assert.deepEqual(await plugin.access!(pair, makeTestContext()), { status: 200, body: 'hello' });
});

test('async functions are awaited, in order', async () => {
  const p = prepareConf(plugin, {
    functions: [
      "async (conf, ctx) => { await new Promise((r) => setTimeout(r, 20)); ctx.shared.set('a', 1) }",
      "(conf, ctx) => { if (ctx.shared.get('a') === 1) return { status: 202, body: 'after' } }",
    ],
  });
  const r = plugin.access!(p, makeTestContext());
  assert.ok(r instanceof Promise);
  assert.deepEqual(await r, { status: 202, body: 'after' });
});

test('synchronous functions answer synchronously', () => {
  const p = prepareConf(plugin, { functions: ['() => undefined'] });
  assert.equal(plugin.access!(p, makeTestContext()), undefined);
});

test('the APISIX shape "return function (conf, ctx) …" is accepted', async () => {
  const p = prepareConf(plugin, { functions: ["return function (conf, ctx) {\n  ctx.request.setHeader('x-b', 'yes');\n}"] });
  const ctx = makeTestContext();
  await plugin.access!(p, ctx);
  assert.equal(ctx.requestHeaders.get('x-b'), 'yes');
});

test('functions see conf, ctx.var, and the request', async () => {
  const p = prepareConf(plugin, { functions: ["(conf, ctx) => ({ status: 200, body: ctx.var('arg_x') + ':' + ctx.request.method + ':' + conf.functions.length })"] });
  assert.deepEqual(await plugin.access!(p, makeTestContext({ target: '/?x=42', method: 'PUT' })), { status: 200, body: '42:PUT:1' });
});

test('body_filter functions may replace the chunk', () => {
  const p = prepareConf(plugin, {
    phase: 'body_filter',
    functions: ['(conf, ctx, chunk, eof) => chunk.toString().toUpperCase()', '(conf, ctx, chunk, eof) => eof ? Buffer.concat([chunk, Buffer.from("!")]) : undefined'],
  });
  const ctx = makeTestContext();
  assert.equal(plugin.body_filter!(p, ctx, Buffer.from('ab'), false)!.toString(), 'AB');
  assert.equal(plugin.body_filter!(p, ctx, Buffer.from('cd'), true)!.toString(), 'CD!');
  const keep = prepareConf(plugin, { phase: 'body_filter', functions: ['() => {}'] });
  assert.equal(plugin.body_filter!(keep, ctx, Buffer.from('x'), true), undefined);
});

test('header_filter functions change the response', () => {
  const p = prepareConf(plugin, { phase: 'header_filter', functions: ["(conf, ctx) => { ctx.response.setHeader('x-h', String(ctx.response.status)); ctx.response.status = 299 }"] });
  const ctx = makeTestContext({ response: { status: 200 } });
  plugin.header_filter!(p, ctx);
  assert.equal(ctx.responseHeaders.get('x-h'), '200');
  assert.equal(ctx.response.status, 299);
});

test('a function that throws at request time propagates (the runner makes it a 500)', async () => {
  const p = prepareConf(plugin, { functions: ["() => { throw new Error('boom') }"] });
  assert.throws(() => plugin.access!(p, makeTestContext()), /boom/);
  const q = prepareConf(plugin, { functions: ["async () => { throw new Error('later') }"] });
  await assert.rejects(async () => (await plugin.access!(q, makeTestContext())) as PhaseResult, /later/);
});

test('functions are compiled once, in prepare', async () => {
  const p = prepareConf(plugin, { functions: ['(() => { let n = 0; return () => ({ status: 200, body: String(++n) }) })()'] });
  assert.deepEqual(await plugin.access!(p, makeTestContext()), { status: 200, body: '1' });
  assert.deepEqual(await plugin.access!(p, makeTestContext()), { status: 200, body: '2' });
});

test('prepare refuses syntax errors, throws and non-functions, naming the entry', () => {
  assert.throws(() => prepareConf(plugin, { functions: ['() => {}', '(conf, ctx) => {'] }),
    /failed to compile serverless-pre-function\/functions\[1\]: SyntaxError/);
  assert.throws(() => prepareConf(plugin, { functions: ['(() => { throw new Error("x") })()'] }), /failed to evaluate .*functions\[0\]: Error: x/);
  assert.throws(() => prepareConf(plugin, { functions: ['42'] }), /only accept JavaScript function, the input code type is number/);
  assert.throws(() => prepareConf(plugin, { functions: ['return function (conf, ctx) ngx.say("lua") end'] }), /SyntaxError/);
  assert.throws(() => prepareConf(plugin, { functions: ['(() => { while (true) {} })()'] }), /failed to evaluate.*timed out/);
});

test('schema errors name the field', () => {
  assert.match(schemaError(plugin, {})!, /property "functions" is required/);
  assert.match(schemaError(plugin, { functions: [] })!, /property "functions" validation failed/);
  assert.match(schemaError(plugin, { functions: [1] })!, /property "functions\[1\]" validation failed|functions/);
  assert.match(schemaError(plugin, { functions: ['() => {}'], phase: 'balancer' })!, /property "phase" validation failed/);
});
