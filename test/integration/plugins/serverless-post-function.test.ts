import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

// The seed's (003) custom-priority example: post-function with _meta.priority 10000 and
// pre-function with -2000, both in rewrite, swap their default order. Each function
// appends its name to the x-order request header; the upstream echo shows the order.

const appendName = (name: string): string =>
  `(conf, ctx) => { const v = ctx.request.header('x-order'); ctx.request.setHeader('x-order', v ? v + ',${name}' : '${name}') }`;

let gw: Gateway;
let up: TestUpstream;

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    routes: [
      { id: 'swapped', uri: '/swapped', upstream, plugins: {
        'serverless-post-function': { _meta: { priority: 10000 }, phase: 'rewrite', functions: [appendName('serverless-post-function')] },
        'serverless-pre-function': { _meta: { priority: -2000 }, phase: 'rewrite', functions: [appendName('serverless-pre-function')] },
      } },
      { id: 'default', uri: '/default', upstream, plugins: {
        'serverless-post-function': { phase: 'rewrite', functions: [appendName('serverless-post-function')] },
        'serverless-pre-function': { phase: 'rewrite', functions: [appendName('serverless-pre-function')] },
      } },
      { id: 'post-log', uri: '/post-header', upstream, plugins: {
        'serverless-post-function': { phase: 'header_filter', functions: ["(conf, ctx) => { ctx.response.setHeader('x-post', String(ctx.response.status)) }"] },
      } },
    ],
  })));
});

after(() => stopWithUpstream(gw, up));

test('seed example: _meta.priority makes serverless-post-function run first', async () => {
  const echo = (await get(gw.url + '/swapped')).json();
  assert.equal(echo.headers['x-order'], 'serverless-post-function,serverless-pre-function');
});

test('without _meta.priority, pre runs before post', async () => {
  const echo = (await get(gw.url + '/default')).json();
  assert.equal(echo.headers['x-order'], 'serverless-pre-function,serverless-post-function');
});

test('a header_filter function sees and changes the response', async () => {
  const r = await get(gw.url + '/post-header');
  assert.equal(r.headers['x-post'], '200');
});
