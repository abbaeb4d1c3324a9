import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

// Seed 002 (API7 "Plugins"): key-auth enabled in a global rule and on a consumer, and
// proxy-rewrite on a route modifying a request header — configured through the Admin
// API exactly as an APISIX user would.

let gw: Gateway;
let up: TestUpstream;

async function admin(method: string, path: string, body: unknown): Promise<number> {
  const r = await get(`${gw.adminUrl}${path}`, {
    method, headers: { 'x-api-key': gw.adminKey, 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${r.body}`);
  return r.status;
}

before(async () => {
  up = await startUpstream('a');
  gw = await startGateway({ store: 'sqlite', workers: 2 });
  await admin('PUT', '/consumers', { username: 'jack', plugins: { 'key-auth': { key: 'global-key' } } });
  await admin('PUT', '/global_rules/1', { plugins: { 'key-auth': {} } });
  await admin('PUT', '/routes/1', {
    uri: '/anything',
    plugins: { 'proxy-rewrite': { headers: { set: { 'X-Api-Version': 'v1' } } } },
    upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${up.port}`]: 1 } },
  });
  // propagation: wait until every worker serves the route
  for (let i = 0; i < 100; i++) {
    const r = await get(`${gw.url}/anything`, { headers: { apikey: 'global-key' } });
    if (r.status === 200) break;
    await new Promise((res) => setTimeout(res, 50));
  }
});

after(async () => {
  await gw.stop();
  await up.close();
});

test('without a key, or with a wrong key, the request is rejected', async () => {
  assert.equal((await get(`${gw.url}/anything`)).status, 401);
  assert.equal((await get(`${gw.url}/anything`, { headers: { apikey: 'wrong' } })).status, 401);
});

test('with the key but to a route that does not exist, the request is authenticated and then gets 404', async () => {
  const r = await get(`${gw.url}/no-such-route`, { headers: { apikey: 'global-key' } });
  assert.equal(r.status, 404);
  assert.deepEqual(r.json(), { error_msg: '404 Route Not Found' });
});

test('with the key to the route, the request is authenticated, its header rewritten by the route plugin, and forwarded', async () => {
  for (let i = 0; i < 6; i++) { // both workers
    const r = await get(`${gw.url}/anything`, { headers: { apikey: 'global-key' } });
    assert.equal(r.status, 200);
    assert.equal(r.json().headers['x-api-version'], 'v1');
    assert.equal(r.json().upstream, 'a');
  }
});
