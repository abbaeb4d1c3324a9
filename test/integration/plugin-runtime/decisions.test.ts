import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWithUpstream, stopWithUpstream, type Gateway, FIXTURE_PLUGIN_DIR } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

let gw: Gateway;
let up: TestUpstream;

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    routes: [
      { id: 'reject', uri: '/reject', upstream, plugins: { rejects: {}, 'trace-authz-high': {} } },
      { id: 'reject-string', uri: '/reject-string', upstream, plugins: { rejects: { _meta: { error_response: 'Missing credential in request' } } } },
      { id: 'reject-object', uri: '/reject-object', upstream, plugins: { rejects: { status: 401, _meta: { error_response: { message: 'Missing credential in request' } } } } },
      { id: 'throws', uri: '/throws', upstream, plugins: { 'throws-in-access': { when: 'yes' } } },
      { id: 'no-upstream', uri: '/only-plugins', plugins: { rejects: { status: 200 } } },
      ...['access', 'decision', 'decision-status', 'header_filter', 'status', 'request', 'uri'].map((where) => ({
        id: `bad-${where}`, uri: `/bad/${where}`, upstream, plugins: { 'bad-header': { where } },
      })),
    ],
  }), { extra: { plugin_dirs: [FIXTURE_PLUGIN_DIR] } }));
});

after(() => stopWithUpstream(gw, up));

test('a plugin decision ends the request and the response phases of earlier plugins still run', async () => {
  const r = await get(gw.url + '/reject');
  assert.equal(r.status, 403);
  assert.deepEqual(r.json(), { message: 'rejected by plugin' });
  assert.equal(r.headers['x-trace-resp'], 'trace-authz-high');
});

test('a rejection is logged at warn as "<plugin> exits with http status code <N>"', async () => {
  const from = gw.output().length;
  await get(gw.url + '/reject');
  await gw.waitForOutput(/"level":40.*rejects exits with http status code 403/, from);
});

test('_meta.error_response replaces the body with a string', async () => {
  const r = await get(gw.url + '/reject-string');
  assert.equal(r.status, 403);
  assert.equal(r.body, 'Missing credential in request');
});

test('_meta.error_response replaces the body with an object, as JSON', async () => {
  const r = await get(gw.url + '/reject-object');
  assert.equal(r.status, 401);
  assert.deepEqual(r.json(), { message: 'Missing credential in request' });
  assert.equal(r.headers['content-type'], 'application/json');
});

test('a plugin that throws fails only its own request with a 500, logged with its name', async () => {
  const from = gw.output().length;
  const bad = await get(gw.url + '/throws?boom=yes');
  assert.equal(bad.status, 500);
  await gw.waitForOutput(/throws-in-access.*deliberate failure/, from);
  const good = await get(gw.url + '/throws?boom=no');
  assert.equal(good.status, 200);
  assert.equal(good.json().upstream, 'a');
});

test('a route with plugins and no upstream is answered by its plugins', async () => {
  const r = await get(gw.url + '/only-plugins');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json(), { message: 'rejected by plugin' });
});

test('a header or status a plugin could not have written fails inside that plugin: its request gets an answer, the worker lives', async () => {
  const from = gw.output().length;
  // set in a request phase (for the response, on the upstream request, or in a decision): that request fails with a 500
  for (const where of ['access', 'request', 'decision', 'decision-status', 'uri']) {
    const r = await get(`${gw.url}/bad/${where}`);
    assert.equal(r.status, 500, where);
    assert.equal(r.headers['x-bad'], undefined, where);
  }
  // in header_filter: the handler fails, logged; the response goes out without that change
  for (const where of ['header_filter', 'status']) {
    const r = await get(`${gw.url}/bad/${where}`);
    assert.equal(r.status, 200, where);
    assert.equal(r.headers['x-bad'], undefined, where);
    assert.equal(r.json().upstream, 'a', where);
  }
  await gw.waitForOutput(/"phase":"header_filter","err":"invalid header \\"x-bad\\".*plugin bad-header failed in header_filter/, from);
  await gw.waitForOutput(/"phase":"access","err":"invalid header \\"x-bad\\".*plugin bad-header failed in access/, from);
  const good = await get(gw.url + '/throws?boom=no');
  assert.equal(good.status, 200);
});
