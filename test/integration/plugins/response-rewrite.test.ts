import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

let gw: Gateway;
let up: TestUpstream;

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    routes: [
      { id: 'body', uri: '/body', upstream, plugins: { 'response-rewrite': {
        status_code: 201, body: '{"code":"ok"}\n',
        headers: { set: { 'X-Server-Status': 'on', 'Content-Type': 'application/json' }, add: ['X-Added: $uri'], remove: ['X-Upstream'] },
      } } },
      { id: 'filters', uri: '/filters', upstream, plugins: { 'response-rewrite': {
        filters: [{ regex: '"upstream":"a"', replace: '"upstream":"hidden"' }, { regex: 'GET', replace: 'got', scope: 'global' }],
      } } },
      { id: 'vars', uri: '/status/*', upstream, plugins: { 'response-rewrite': {
        vars: [['status', '==', 500]], status_code: 503, body: 'maintenance\n',
      } } },
      { id: 'big', uri: '/bytes/*', upstream, plugins: { 'response-rewrite': {
        filters: [{ regex: 'a{10}', replace: 'B', scope: 'global' }],
      } } },
      { id: 'mocked', uri: '/mocked', upstream, plugins: {
        mocking: { response_example: 'mock body' },
        'response-rewrite': { headers: { set: { 'X-Rewritten': 'yes' } } },
      } },
    ],
  })));
});

after(() => stopWithUpstream(gw, up));

test('status_code, body and headers replace what the upstream sent', async () => {
  const r = await get(gw.url + '/body');
  assert.equal(r.status, 201);
  assert.equal(r.body, '{"code":"ok"}\n');
  assert.equal(r.headers['x-server-status'], 'on');
  assert.equal(r.headers['x-added'], '/body');
  assert.equal(r.headers['x-upstream'], undefined);
});

test('filters edit the upstream body', async () => {
  const r = await get(gw.url + '/filters');
  assert.equal(r.status, 200);
  const echo = r.json();
  assert.equal(echo.upstream, 'hidden');
  assert.equal(echo.method, 'got');
});

test('filters over a large streamed body', async () => {
  const r = await get(gw.url + '/bytes/100000');
  assert.equal(r.status, 200);
  assert.equal(r.body, 'B'.repeat(10000));
});

test('vars: only responses matching the expression are rewritten', async () => {
  const bad = await get(gw.url + '/status/500');
  assert.equal(bad.status, 503);
  assert.equal(bad.body, 'maintenance\n');
  const ok = await get(gw.url + '/status/200');
  assert.equal(ok.status, 200);
  assert.equal(ok.body, 'status 200');
});

test('rewrites a response another plugin answered', async () => {
  const r = await get(gw.url + '/mocked');
  assert.equal(r.body, 'mock body');
  assert.equal(r.headers['x-rewritten'], 'yes');
});
