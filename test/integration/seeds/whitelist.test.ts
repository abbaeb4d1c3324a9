import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway } from '../../helpers/gateway.js';
import { startUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

// Seeds 003/004: the `plugins:` list of config.yaml is a whitelist; plugins outside it are
// not installed. A route naming one is refused by the Admin API (400 naming the plugin)
// and, from a standalone file, reported and not served.

const cleanups: (() => Promise<void>)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

test('the Admin API refuses a route that uses a plugin outside the whitelist, naming it', async () => {
  const gw = await startGateway({ store: 'sqlite', extra: { plugins: ['key-auth', 'proxy-rewrite'] } });
  cleanups.push(() => gw.stop());
  const headers = { 'x-api-key': gw.adminKey, 'content-type': 'application/json' };
  const bad = await get(`${gw.adminUrl}/routes/1`, { method: 'PUT', headers,
    body: JSON.stringify({ uri: '/x', plugins: { mocking: {} }, upstream: { nodes: { '127.0.0.1:1980': 1 } } }) });
  assert.equal(bad.status, 400);
  assert.match(bad.json().error_msg, /unknown plugin \[mocking\]/);
  const good = await get(`${gw.adminUrl}/routes/1`, { method: 'PUT', headers,
    body: JSON.stringify({ uri: '/x', plugins: { 'key-auth': {} }, upstream: { nodes: { '127.0.0.1:1980': 1 } } }) });
  assert.equal(good.status, 201, good.body);
});

test('a standalone route using a plugin outside the whitelist is reported and not served; the others are', async () => {
  const up = await startUpstream('a');
  cleanups.push(() => up.close());
  const upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
  const gw = await startGateway({
    extra: { plugins: ['proxy-rewrite'] },
    config: { routes: [
      { id: 'mock', uri: '/mock', plugins: { mocking: { response_example: 'hi' } }, upstream },
      { id: 'ok', uri: '/ok', plugins: { 'proxy-rewrite': { uri: '/rewritten' } }, upstream },
    ] },
  });
  cleanups.push(() => gw.stop());
  assert.equal((await get(gw.url + '/ok')).json().url, '/rewritten');
  assert.equal((await get(gw.url + '/mock')).status, 404);
  assert.match(gw.output(), /unknown plugin \[mocking\]/);
});
