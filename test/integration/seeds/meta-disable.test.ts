import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway } from '../../helpers/gateway.js';
import { startUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

// Seed 003, "Disable the plugin": `{"proxy-rewrite": {"_meta": {"disable": true}}}` is
// accepted as written and the request does not go through the plugin.

const cleanups: (() => Promise<void>)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

test('a plugin added with _meta.disable is accepted and skipped', async () => {
  const up = await startUpstream('a');
  cleanups.push(() => up.close());
  const gw = await startGateway({ store: 'sqlite' });
  cleanups.push(() => gw.stop());
  const headers = { 'x-api-key': gw.adminKey, 'content-type': 'application/json' };
  const put = await get(`${gw.adminUrl}/routes/1`, { method: 'PUT', headers, body: JSON.stringify({
    uri: '/get',
    plugins: { 'proxy-rewrite': { _meta: { disable: true } } },
    upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${up.port}`]: 1 } },
  }) });
  assert.equal(put.status, 201, put.body);
  let r = await get(gw.url + '/get');
  for (let i = 0; i < 100 && r.status !== 200; i++) {
    await new Promise((res) => setTimeout(res, 30));
    r = await get(gw.url + '/get');
  }
  assert.equal(r.status, 200);
  assert.equal(r.json().url, '/get');
});
