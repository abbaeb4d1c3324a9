import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWithUpstream, stopWithUpstream, type Gateway, FIXTURE_PLUGIN_DIR } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

// header_filter and body_filter may be asynchronous: the upstream's response is held
// while they work, chunks stay in order, and nothing is lost or duplicated.

let gw: Gateway;
let up: TestUpstream;

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    routes: [
      { id: 'upper', uri: '/bytes/*', upstream, plugins: { 'async-filters': { ms: 2, upper: true, report: true } } },
      { id: 'stream', uri: '/stream', upstream, plugins: { 'async-filters': { ms: 1, report: true } } },
      { id: 'local', uri: '/local', plugins: { 'async-filters': { ms: 3, upper: true }, rejects: { status: 403 } } },
    ],
  }), { extra: { plugin_dirs: [FIXTURE_PLUGIN_DIR] } }));
});

after(() => stopWithUpstream(gw, up));

test('an asynchronous header_filter and body_filter transform a proxied response', async () => {
  const r = await get(gw.url + '/bytes/100');
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-async-head'], 'after 2 ms');
  assert.equal(r.body, 'A'.repeat(100) + '[seen 100]');
});

test('a 3 MiB streamed response passes through an asynchronous body_filter whole and in order', async () => {
  const r = await get(gw.url + '/stream?mb=3');
  assert.equal(r.status, 200);
  const size = 3 * 1024 * 1024;
  assert.equal(r.body.length, size + `[seen ${size}]`.length);
  assert.ok(r.body.endsWith(`[seen ${size}]`));
  assert.equal(r.body.slice(0, size), 'b'.repeat(size));
});

test('a local answer (a plugin decision) goes through the asynchronous response phases too', async () => {
  const r = await get(gw.url + '/local');
  assert.equal(r.status, 403);
  assert.equal(r.headers['x-async-head'], 'after 3 ms');
  assert.match(r.body, /REJECTED BY PLUGIN/);
});
