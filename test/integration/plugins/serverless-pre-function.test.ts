import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, eventually, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

let gw: Gateway;
let up: TestUpstream;
let upstream: Record<string, unknown>;

before(async () => {
  up = await startUpstream('a');
  upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
  gw = await startGateway({
    config: {
      routes: [
        { id: 'header', uri: '/header', upstream, plugins: {
          'serverless-pre-function': { functions: ["(conf, ctx) => { ctx.request.setHeader('x-a', '1') }"] },
        } },
        { id: 'stop', uri: '/stop', upstream, plugins: {
          'serverless-pre-function': { phase: 'rewrite', functions: [
            "(conf, ctx) => { if (ctx.var('arg_deny') === '1') return { status: 403, body: { message: 'denied by function' } } }",
          ] },
        } },
        { id: 'async', uri: '/async', upstream, plugins: {
          'serverless-pre-function': { functions: [
            "async (conf, ctx) => { await new Promise((r) => setTimeout(r, 10)); return [200, 'from an async function'] }",
          ] },
        } },
        { id: 'lua-shape', uri: '/lua-shape', upstream, plugins: {
          'serverless-pre-function': { phase: 'access', functions: ["return function (conf, ctx) {\n  ctx.request.setHeader('x-shape', 'return-function');\n}"] },
        } },
        { id: 'body', uri: '/body', upstream, plugins: {
          'serverless-pre-function': { phase: 'body_filter', functions: ['(conf, ctx, chunk, eof) => chunk.toString().toUpperCase()'] },
        } },
        { id: 'throws', uri: '/throws', upstream, plugins: {
          'serverless-pre-function': { functions: ["() => { throw new Error('boom') }"] },
        } },
      ],
    },
  });
});

after(async () => {
  await gw.stop();
  await up.close();
});

test('a function sets a request header (default phase access)', async () => {
  assert.equal((await get(gw.url + '/header')).json().headers['x-a'], '1');
});

test('a function ends the request by returning a PhaseResult', async () => {
  const r = await get(gw.url + '/stop?deny=1');
  assert.equal(r.status, 403);
  assert.deepEqual(r.json(), { message: 'denied by function' });
  assert.equal((await get(gw.url + '/stop')).status, 200);
});

test('async functions are awaited', async () => {
  const r = await get(gw.url + '/async');
  assert.equal(r.status, 200);
  assert.equal(r.body, 'from an async function');
});

test('the "return function (conf, ctx) …" shape works', async () => {
  assert.equal((await get(gw.url + '/lua-shape')).json().headers['x-shape'], 'return-function');
});

test('a body_filter function rewrites the response body', async () => {
  const r = await get(gw.url + '/body');
  assert.equal(r.status, 200);
  assert.equal(JSON.parse(r.body.toLowerCase()).upstream, 'a');
  assert.match(r.body, /"UPSTREAM":"A"/);
});

test('a function that throws is a 500 for that request only', async () => {
  assert.equal((await get(gw.url + '/throws')).status, 500);
  assert.equal((await get(gw.url + '/header')).status, 200);
});

test('a syntax error refuses the config at load time', async () => {
  const from = gw.output().length;
  await gw.writeConfig({ routes: [
    { id: 'header', uri: '/header', upstream, plugins: { 'serverless-pre-function': { functions: ['() => {}'] } } },
    { id: 'bad', uri: '/bad', upstream, plugins: { 'serverless-pre-function': { functions: ['(conf, ctx) => {'] } } },
  ] });
  await gw.waitForOutput(/failed to compile plugins\.serverless-pre-function\.functions\[0\]: SyntaxError/, from);
});

test('a standalone file with process.exit() at top level is loaded without running it; the node keeps serving', async () => {
  const from = gw.output().length;
  await gw.writeConfig({ routes: [
    { id: 'header', uri: '/header', upstream, plugins: { 'serverless-pre-function': { functions: ["(conf, ctx) => { ctx.request.setHeader('x-a', '2') }"] } } },
    { id: 'exit', uri: '/exit', upstream, plugins: { 'serverless-pre-function': { functions: ['process.exit(1)'] } } },
  ] });
  await eventually(async () => (await get(gw.url + '/header')).json().headers['x-a'] === '2');
  assert.equal((await get(gw.url + '/exit')).status, 500);
  await gw.waitForOutput(/ReferenceError: process is not defined/, from);
  assert.equal((await get(gw.url + '/header')).status, 200);
  assert.equal(gw.proc.exitCode, null);
});
