import { test } from 'node:test';
import assert from 'node:assert/strict';
import plugin from './fault-injection.js';
import { makeTestContext, prepareConf, schemaError } from '../../test/helpers/plugin-context-transform.js';

async function run(conf: Record<string, unknown>, init: Parameters<typeof makeTestContext>[0] = {}) {
  const p = prepareConf(plugin, conf);
  return plugin.rewrite!(p, makeTestContext(init));
}

test('declares the authorization stage and priority 970', () => {
  assert.equal(plugin.name, 'fault-injection');
  assert.equal(plugin.stage, 'authorization');
  assert.equal(plugin.priority, 970);
});

test('abort answers with http_status, body and headers ($vars resolved)', async () => {
  assert.deepEqual(await run({ abort: { http_status: 200, body: 'Fault Injection!\n' } }), { status: 200, body: 'Fault Injection!\n' });
  assert.deepEqual(await run({ abort: { http_status: 403, body: 'no $arg_name', headers: { 'X-Why': 'for $arg_name', 'X-N': 1 } } },
    { target: '/?name=jack' }), { status: 403, body: 'no jack', headers: { 'X-Why': 'for jack', 'X-N': '1' } });
  assert.deepEqual(await run({ abort: { http_status: 503 } }), { status: 503 });
});

test('abort percentage 0 never aborts, 100 always', async () => {
  for (let i = 0; i < 20; i++) assert.equal(await run({ abort: { http_status: 500, percentage: 0 } }), undefined);
  for (let i = 0; i < 20; i++) assert.deepEqual(await run({ abort: { http_status: 500, percentage: 100 } }), { status: 500 });
});

test('abort percentage 50 aborts about half of the requests', async () => {
  const p = prepareConf(plugin, { abort: { http_status: 500, percentage: 50 } });
  let n = 0;
  for (let i = 0; i < 2000; i++) if (plugin.rewrite!(p, makeTestContext()) !== undefined) n++;
  assert.ok(n > 800 && n < 1200, `aborted ${n} of 2000`);
});

test('abort vars: rules are OR-ed, each rule is a lua-resty-expr expression', async () => {
  const conf = { abort: { http_status: 403, vars: [[['arg_name', '==', 'jack'], ['arg_age', '!', '<', 18]], [['http_apikey', '==', 'api-key']]] } };
  assert.deepEqual(await run(conf, { target: '/?name=jack&age=20' }), { status: 403 });
  assert.equal(await run(conf, { target: '/?name=jack&age=10' }), undefined);
  assert.deepEqual(await run(conf, { target: '/', headers: { apikey: 'api-key' } }), { status: 403 });
  assert.equal(await run(conf, { target: '/?name=rose' }), undefined);
});

test('delay holds the request for duration seconds, then continues', async () => {
  const started = performance.now();
  const r = plugin.rewrite!(prepareConf(plugin, { delay: { duration: 0.2 } }), makeTestContext());
  assert.ok(r instanceof Promise);
  assert.equal(await r, undefined);
  assert.ok(performance.now() - started >= 190);
});

test('delay honours vars and percentage; no delay means a synchronous answer', () => {
  const p = prepareConf(plugin, { delay: { duration: 5, vars: [[['arg_slow', '==', '1']]] } });
  assert.equal(plugin.rewrite!(p, makeTestContext({ target: '/' })), undefined);
  const q = prepareConf(plugin, { delay: { duration: 5, percentage: 0 } });
  assert.equal(plugin.rewrite!(q, makeTestContext()), undefined);
});

test('delay then abort', async () => {
  const started = performance.now();
  assert.deepEqual(await run({ delay: { duration: 0.1 }, abort: { http_status: 418 } }), { status: 418 });
  assert.ok(performance.now() - started >= 90);
});

test('schema errors name the field', () => {
  assert.ok(schemaError(plugin, {}) !== undefined);
  assert.match(schemaError(plugin, { abort: {} })!, /abort/);
  assert.match(schemaError(plugin, { abort: { http_status: 100 } })!, /property "abort.http_status" validation failed/);
  assert.match(schemaError(plugin, { abort: { http_status: 500, percentage: 101 } })!, /property "abort.percentage" validation failed/);
  assert.match(schemaError(plugin, { delay: { duration: -1 } })!, /property "delay.duration" validation failed/);
  assert.match(schemaError(plugin, { delay: { duration: 1, vars: 'x' } })!, /property "delay.vars" validation failed/);
});

test('abort.http_status above 599 is refused, naming the field', () => {
  assert.equal(schemaError(plugin, { abort: { http_status: 1000 } }),
    'property "abort.http_status" validation failed: expected 1000 to be at most 599');
  assert.equal(schemaError(plugin, { abort: { http_status: 599 } }), undefined);
});

test('a 204 or 304 abort carries no body', async () => {
  assert.deepEqual(await run({ abort: { http_status: 204, body: 'x', headers: { 'X-A': 'b' } } }), { status: 204, headers: { 'X-A': 'b' } });
  assert.deepEqual(await run({ abort: { http_status: 304, body: 'x' } }), { status: 304 });
});

test('prepare refuses invalid vars expressions', () => {
  assert.throws(() => prepareConf(plugin, { abort: { http_status: 500, vars: [[['arg_a', 'like', 'b']]] } }),
    /failed to create vars expression abort\.vars\[0\]: invalid operator 'like'/);
  assert.throws(() => prepareConf(plugin, { delay: { duration: 1, vars: [['arg_a', '==', 'b']] } }), /delay\.vars\[0\]/);
});
