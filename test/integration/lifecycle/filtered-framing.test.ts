import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWithUpstream, stopWithUpstream, type Gateway, FIXTURE_PLUGIN_DIR } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

// How a response whose body passes through body_filter is framed: a body filter may change
// the length, so the upstream's Content-Length is dropped; a body complete when the filters
// are done still goes out with a Content-Length of its own, one that streams goes chunked.

let gw: Gateway;
let up: TestUpstream;

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    routes: [
      { id: 'upper', uri: '/bytes/*', upstream, plugins: { 'sync-upper': {} } },
      { id: 'upper-stream', uri: '/stream', upstream, plugins: { 'sync-upper': {} } },
      { id: 'grow', uri: '/grow/*', upstream, plugins: {
        'proxy-rewrite': { regex_uri: ['^/grow/(.*)', '/bytes/$1'] },
        'response-rewrite': { filters: [{ regex: 'a', replace: 'bb', options: 'jo', scope: 'global' }] },
      } },
      { id: 'headers-only', uri: '/plain/*', upstream, plugins: {
        'proxy-rewrite': { regex_uri: ['^/plain/(.*)', '/bytes/$1'] },
        'response-rewrite': { headers: { set: { 'x-seen': 'yes' } } },
      } },
    ],
  }), { extra: { plugin_dirs: [FIXTURE_PLUGIN_DIR] } }));
});

after(() => stopWithUpstream(gw, up));

/** A 200 with `body`, sent with a Content-Length of its own and not chunked. */
async function expectLengthFramed(path: string, body: string): Promise<void> {
  const r = await get(gw.url + path);
  assert.equal(r.status, 200);
  assert.equal(r.body, body);
  assert.equal(r.headers['content-length'], String(body.length));
  assert.equal(r.headers['transfer-encoding'], undefined);
}

test('a small body through a streaming body_filter goes out whole, with a Content-Length', async () => {
  await expectLengthFramed('/bytes/100', 'A'.repeat(100));
});

test('a body a filter holds to its end (response-rewrite filters) gets the new length', async () => {
  await expectLengthFramed('/grow/50', 'b'.repeat(100));
});

test('a streamed body through a body_filter goes chunked, whole and in order', async () => {
  const r = await get(gw.url + '/stream?mb=2');
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-length'], undefined);
  assert.equal(r.headers['transfer-encoding'], 'chunked');
  assert.equal(r.body, 'B'.repeat(2 * 1024 * 1024));
});

test('response phases without a body_filter keep the upstream framing', async () => {
  const r = await get(gw.url + '/plain/70');
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-seen'], 'yes');
  assert.equal(r.headers['content-length'], '70');
  assert.equal(r.body, 'a'.repeat(70));
});
