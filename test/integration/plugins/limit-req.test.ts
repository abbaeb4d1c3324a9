import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get, type SimpleResponse } from '../../helpers/http.js';

// limit-req with policy `local` on two workers: one leaky bucket per key for the node.

const PID = { 'serverless-post-function': { phase: 'header_filter', functions: ["(conf, ctx) => { ctx.response.setHeader('x-worker-pid', String(ctx.var.pid)) }"] } };

let gw: Gateway;
let up: TestUpstream;

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    routes: [
      { id: 'strict', uri: '/strict', upstream, plugins: { ...PID, 'limit-req': { rate: 1, burst: 0, key: 'remote_addr' } } },
      { id: 'delayed', uri: '/delayed', upstream, plugins: { 'limit-req': { rate: 1, burst: 1, key: 'remote_addr', rejected_code: 429 } } },
      { id: 'nodelay', uri: '/nodelay', upstream, plugins: { 'limit-req': { rate: 1, burst: 1, key: 'remote_addr', nodelay: true, rejected_msg: 'too fast' } } },
    ],
  }), { workers: 2 }));
});

after(() => stopWithUpstream(gw, up));

const fresh = (path: string): Promise<SimpleResponse> => get(gw.url + path, { headers: { connection: 'close' } });

test('rate 1, burst 0: of a burst of requests on both workers only one passes', async () => {
  const responses = await Promise.all(Array.from({ length: 10 }, () => fresh('/strict')));
  const statuses = responses.map((r) => r.status).sort();
  assert.deepEqual(statuses, [200, 503, 503, 503, 503, 503, 503, 503, 503, 503]);
  assert.equal(new Set(responses.map((r) => r.headers['x-worker-pid'])).size, 2, 'both workers answered');
  assert.match(responses.find((r) => r.status === 503)!.body, /503 Service Temporarily Unavailable/);
});

test('within burst a request is delayed, beyond it rejected', async () => {
  // three at once at rate 1/s, burst 1: one passes at once, one waits ~1 s to conform, one is rejected
  const finished: number[] = [];
  const responses = await Promise.all(Array.from({ length: 3 }, () => fresh('/delayed').then((r) => {
    finished.push(r.status);
    return r;
  })));
  assert.deepEqual(responses.map((r) => r.status).sort(), [200, 200, 429]);
  // the delayed one is still waiting when the other two have been answered
  assert.equal(finished[2], 200, `answer order ${finished.join(',')}`);
});

test('nodelay: within burst passes at once, beyond is rejected with rejected_msg', async () => {
  const responses = await Promise.all(Array.from({ length: 3 }, () => fresh('/nodelay')));
  assert.deepEqual(responses.map((r) => r.status).sort(), [200, 200, 503]);
  assert.deepEqual(responses.find((r) => r.status === 503)!.json(), { error_msg: 'too fast' });
});
