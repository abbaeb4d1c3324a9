import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

let gw: Gateway;
let up: TestUpstream;

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    consumer_groups: [{ id: 'gold', plugins: {} }],
    consumers: [
      { username: 'jack', group_id: 'gold', plugins: { 'key-auth': { key: 'jack-key' } } },
      { username: 'rose', plugins: { 'key-auth': { key: 'rose-key' } } },
    ],
    routes: [
      { id: 'white', uri: '/white', upstream, plugins: { 'key-auth': {}, 'consumer-restriction': { whitelist: ['jack'] } } },
      { id: 'black', uri: '/black', upstream, plugins: { 'key-auth': {}, 'consumer-restriction': { blacklist: ['jack'], rejected_code: 401, rejected_msg: 'go away' } } },
      { id: 'group', uri: '/group', upstream, plugins: { 'key-auth': {}, 'consumer-restriction': { type: 'consumer_group_id', whitelist: ['gold'] } } },
      { id: 'methods', uri: '/methods', upstream, plugins: { 'key-auth': {}, 'consumer-restriction': { allowed_by_methods: [{ user: 'rose', methods: ['GET'] }] } } },
      { id: 'no-auth', uri: '/no-auth', upstream, plugins: { 'consumer-restriction': { whitelist: ['jack'] } } },
      { id: 'r-blocked', uri: '/by-route', upstream, plugins: { 'consumer-restriction': { type: 'route_id', blacklist: ['r-blocked'] } } },
    ],
  })));
});

after(() => stopWithUpstream(gw, up));

const call = (path: string, key?: string, method = 'GET') =>
  get(gw.url + path, { method, headers: key === undefined ? {} : { apikey: key } });

test('whitelist: only listed consumers pass', async () => {
  assert.equal((await call('/white', 'jack-key')).status, 200);
  const r = await call('/white', 'rose-key');
  assert.equal(r.status, 403);
  assert.deepEqual(r.json(), { message: 'The consumer_name is forbidden.' });
});

test('blacklist with rejected_code and rejected_msg', async () => {
  const r = await call('/black', 'jack-key');
  assert.equal(r.status, 401);
  assert.deepEqual(r.json(), { message: 'go away' });
  assert.equal((await call('/black', 'rose-key')).status, 200);
});

test('consumer_group_id', async () => {
  assert.equal((await call('/group', 'jack-key')).status, 200);
  assert.equal((await call('/group', 'rose-key')).status, 401, 'rose has no group');
});

test('allowed_by_methods', async () => {
  assert.equal((await call('/methods', 'rose-key', 'GET')).status, 200);
  assert.equal((await call('/methods', 'rose-key', 'POST')).status, 403);
  assert.equal((await call('/methods', 'jack-key', 'POST')).status, 200);
});

test('without an identified consumer: 401 asking to check the type', async () => {
  const r = await call('/no-auth');
  assert.equal(r.status, 401);
  assert.deepEqual(r.json(), { message: 'The request is rejected, please check the consumer_name for this request' });
});

test('route_id', async () => {
  const r = await call('/by-route');
  assert.equal(r.status, 403);
  assert.deepEqual(r.json(), { message: 'The route_id is forbidden.' });
});
