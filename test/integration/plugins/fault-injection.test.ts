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
      { id: 'abort', uri: '/abort', upstream, plugins: { 'fault-injection': {
        abort: { http_status: 418, body: 'Fault Injection for $arg_who\n', headers: { 'X-Fault': 'yes' } },
      } } },
      { id: 'vars', uri: '/vars', upstream, plugins: { 'fault-injection': {
        abort: { http_status: 403, body: 'blocked', vars: [[['arg_name', '==', 'jack']], [['http_x_chaos', '==', 'on']]] },
      } } },
      { id: 'delay', uri: '/delay', upstream, plugins: { 'fault-injection': { delay: { duration: 0.3 } } } },
      { id: 'never', uri: '/never', upstream, plugins: { 'fault-injection': { abort: { http_status: 500, percentage: 0 } } } },
    ],
  })));
});

after(() => stopWithUpstream(gw, up));

test('abort answers instead of the upstream', async () => {
  const before = up.seen.length;
  const r = await get(gw.url + '/abort?who=me');
  assert.equal(r.status, 418);
  assert.equal(r.body, 'Fault Injection for me\n');
  assert.equal(r.headers['x-fault'], 'yes');
  assert.equal(up.seen.length, before);
});

test('abort with vars: any matching rule aborts', async () => {
  assert.equal((await get(gw.url + '/vars?name=jack')).status, 403);
  assert.equal((await get(gw.url + '/vars', { headers: { 'x-chaos': 'on' } })).status, 403);
  assert.equal((await get(gw.url + '/vars?name=rose')).status, 200);
});

test('delay holds the request, then proxies it', async () => {
  const started = performance.now();
  const r = await get(gw.url + '/delay');
  assert.equal(r.status, 200);
  assert.ok(performance.now() - started >= 280, 'delayed by about 0.3 s');
});

test('percentage 0 never aborts', async () => {
  for (let i = 0; i < 5; i++) assert.equal((await get(gw.url + '/never')).status, 200);
});
