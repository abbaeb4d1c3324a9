import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

let gw: Gateway;
let up: TestUpstream;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    routes: [
      { id: 'default', uri: '/default', upstream, plugins: { 'request-id': {} } },
      { id: 'nanoid', uri: '/nanoid', upstream, plugins: { 'request-id': { algorithm: 'nanoid', header_name: 'X-Trace-Id' } } },
      { id: 'hidden', uri: '/hidden', upstream, plugins: { 'request-id': { include_in_response: false } } },
      { id: 'rejected', uri: '/rejected', upstream, plugins: {
        'request-id': {},
        'fault-injection': { abort: { http_status: 403, body: 'no' } },
      } },
    ],
  })));
});

after(() => stopWithUpstream(gw, up));

test('generates a uuid, sends it upstream and returns it', async () => {
  const r = await get(gw.url + '/default');
  const id = r.headers['x-request-id'] as string;
  assert.match(id, UUID);
  assert.equal(r.json().headers['x-request-id'], id);
  const other = await get(gw.url + '/default');
  assert.notEqual(other.headers['x-request-id'], id);
});

test('keeps the id the client sent', async () => {
  const r = await get(gw.url + '/default', { headers: { 'X-Request-Id': 'client-id-1' } });
  assert.equal(r.headers['x-request-id'], 'client-id-1');
  assert.equal(r.json().headers['x-request-id'], 'client-id-1');
});

test('nanoid in a custom header', async () => {
  const r = await get(gw.url + '/nanoid');
  assert.match(r.headers['x-trace-id'] as string, /^[A-Za-z0-9_-]{21}$/);
  assert.equal(r.json().headers['x-trace-id'], r.headers['x-trace-id']);
});

test('include_in_response false', async () => {
  const r = await get(gw.url + '/hidden');
  assert.equal(r.headers['x-request-id'], undefined);
  assert.match(r.json().headers['x-request-id'], UUID);
});

test('the id is on responses a later plugin ended', async () => {
  const r = await get(gw.url + '/rejected');
  assert.equal(r.status, 403);
  assert.match(r.headers['x-request-id'] as string, UUID);
});
