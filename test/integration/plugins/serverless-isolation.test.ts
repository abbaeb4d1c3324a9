import { test, before, after } from 'node:test';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { startGateway, eventually, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { adminClient, type AdminCall } from '../admin/client.js';

// Serverless functions written through the Admin API are only compiled there (the
// primary); they run in the worker's isolate, where a hostile function fails its own
// request and nothing else. config.yaml's `serverless` block sets the isolate's heap
// (16 MB) and the per-call deadline (1500 ms: long enough for the allocation bomb to
// reach the heap limit first on a loaded machine).

let gw: Gateway;
let up: TestUpstream;
let call: AdminCall;
let upstream: Record<string, unknown>;

const PID_HEADER = { 'serverless-post-function': { phase: 'header_filter', functions: ["(conf, ctx) => { ctx.response.setHeader('x-worker-pid', String(ctx.var.pid)) }"] } };

async function putRoute(id: string, functions: string[], extra: Record<string, unknown> = {}): Promise<void> {
  const r = await call('PUT', `/routes/${id}`, { uri: `/${id}`, upstream, plugins: { 'serverless-pre-function': { functions }, ...PID_HEADER, ...extra } });
  assert.equal(r.status < 300, true, r.text);
}

async function served(path: string): Promise<void> {
  await eventually(async () => (await get(gw.url + path)).status !== 404);
}

before(async () => {
  up = await startUpstream('a');
  upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
  gw = await startGateway({ store: 'sqlite', workers: 1, extra: { serverless: { memory_limit_mb: 16, timeout_ms: 1500 } } });
  call = adminClient(gw);
  await putRoute('ok', ['() => {}']);
  await served('/ok');
});

after(async () => {
  await gw?.stop();
  await up?.close();
});

async function workerPid(): Promise<string> {
  const r = await get(gw.url + '/ok');
  assert.equal(r.status, 200);
  return String(r.headers['x-worker-pid']);
}

test('ctx.var.pid is the pid of the worker serving the request (nginx $pid)', async () => {
  const children = spawnSync('pgrep', ['-P', String(gw.proc.pid)], { encoding: 'utf8' }).stdout.trim().split('\n');
  assert.deepEqual(children, [await workerPid()]);
});

test('process.exit() and an async throw at top level: the Admin API accepts them without running them, the node keeps serving', async () => {
  const pid = await workerPid();
  await putRoute('exit', ['process.exit(1)']);
  await putRoute('async-throw', ["(() => { setTimeout(() => { throw new Error('async boom') }, 0); return () => {} })()"]);
  assert.equal((await call('GET', '/routes/exit')).status, 200, 'the primary still answers');
  await served('/exit');
  const from = gw.output().length;
  assert.equal((await get(gw.url + '/exit')).status, 500);
  await gw.waitForOutput(/serverless-pre-function[^\n]*ReferenceError: process is not defined/, from);
  await served('/async-throw');
  assert.equal((await get(gw.url + '/async-throw')).status, 200);
  assert.equal(await workerPid(), pid, 'the same worker serves on');
  assert.equal(gw.proc.exitCode, null);
});

test('a syntax error is refused with a 400 naming the entry', async () => {
  const r = await call('PUT', '/routes/bad', { uri: '/bad', upstream, plugins: { 'serverless-pre-function': { functions: ['() => {}', '(conf, ctx) => {'] } } });
  assert.equal(r.status, 400);
  assert.match(r.body.error_msg, /plugins\.serverless-pre-function\.functions\[1\]: SyntaxError/);
});

test('an infinite loop fails its request at the deadline with a 500 naming the plugin; the next request is fine', async () => {
  const pid = await workerPid();
  await putRoute('loop', ['() => { while (true) {} }']);
  await served('/loop');
  const from = gw.output().length;
  assert.equal((await get(gw.url + '/loop')).status, 500);
  await gw.waitForOutput(/plugin serverless-pre-function failed in access[^\n]*functions\[0\] did not finish within its 1500 ms deadline|functions\[0\] did not finish within its 1500 ms deadline[^\n]*plugin serverless-pre-function failed in access/, from);
  assert.equal(await workerPid(), pid);
});

test('an allocation bomb fails its request; the isolate is rebuilt and the worker stays up', async () => {
  const pid = await workerPid();
  await putRoute('bomb', ['() => { const a = []; while (true) a.push(new Array(1000000).fill(1.5)) }']);
  await served('/bomb');
  const from = gw.output().length;
  assert.equal((await get(gw.url + '/bomb')).status, 500);
  await gw.waitForOutput(/serverless isolate ran out of memory/, from);
  assert.equal(await workerPid(), pid);
  assert.equal((await get(gw.url + '/ok')).status, 200);
});

test('one ctx per request, shared by every function, pre and post; the next request starts afresh', async () => {
  await putRoute('shared', [
    "(conf, ctx) => { ctx.trail = (ctx.trail || []).concat('pre1') }",
    "(conf, ctx) => { ctx.trail.push('pre2') }",
  ], { 'serverless-post-function': { phase: 'header_filter', functions: ["(conf, ctx) => { ctx.response.setHeader('x-trail', ctx.trail.concat('post').join()) }"] } });
  await served('/shared');
  for (let i = 0; i < 2; i++) assert.equal((await get(gw.url + '/shared')).headers['x-trail'], 'pre1,pre2,post');
});

test('inside a running gateway the functions see no process, require or gateway realm', async () => {
  await putRoute('probe', ["() => [200, [typeof process, typeof require, String(globalThis.constructor.constructor('return typeof process')())].join()]"]);
  await served('/probe');
  const r = await get(gw.url + '/probe');
  assert.equal(r.body, 'undefined,undefined,undefined');
});
