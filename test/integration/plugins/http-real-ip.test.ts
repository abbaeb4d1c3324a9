import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withPluginRoutes } from '../../helpers/plugin-admin.js';
import { startGateway } from '../../helpers/gateway.js';
import { adminClient } from '../admin/client.js';
import { get } from '../../helpers/http.js';

// http-real-ip is real-ip under seed 000's name: both listed, same place and schema, and it
// does what real-ip does (the PROXY protocol source: test/integration/proxy/proxy-protocol.test.ts).

test('both names are listed, at authorization 980, with one schema', async () => {
  const gw = await startGateway({ store: 'sqlite' });
  try {
    const call = adminClient(gw);
    const names = (await call('GET', '/plugins/list')).body as string[];
    assert.ok(names.includes('http-real-ip') && names.includes('real-ip'));
    const all = (await call('GET', '/plugins?all=true')).body as Record<string, { stage: string; priority: number; schema: unknown }>;
    for (const name of ['http-real-ip', 'real-ip']) assert.deepEqual([all[name]!.stage, all[name]!.priority], ['authorization', 980], name);
    assert.deepEqual(all['http-real-ip']!.schema, all['real-ip']!.schema);

    // accepted: the client address comes from X-Real-IP and ip-restriction sees it
    const put = await call('PUT', '/routes/hr', { uri: '/hr', upstream: { nodes: { '127.0.0.1:1': 1 } }, plugins: {
      'http-real-ip': { source: 'http_x_real_ip', trusted_addresses: ['127.0.0.0/8'] },
      'ip-restriction': { blacklist: ['203.0.113.0/24'] },
    } });
    assert.equal(put.status, 201, JSON.stringify(put.body));
    let status = 0;
    for (let i = 0; i < 100 && status !== 403; i++) {
      status = (await get(`${gw.url}/hr`, { headers: { 'x-real-ip': '203.0.113.9' } })).status;
      if (status !== 403) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(status, 403, 'the address from X-Real-IP is blacklisted');
  } finally {
    await gw.stop();
  }
});

test('bad config is refused naming the field, as for real-ip', async () => {
  await withPluginRoutes('http-real-ip', async (put) => {
    const missing = await put({});
    assert.equal(missing.status, 400);
    assert.match(String(missing.body.error_msg), /http-real-ip.*source/);
    const recursive = await put({ source: 'http_x_real_ip', recursive: true });
    assert.equal(recursive.status, 400);
    assert.match(String(recursive.body.error_msg), /recursive/);
    assert.equal((await put({ source: 'proxy_protocol_addr', trusted_addresses: ['10.0.0.0/8'] })).status, 201);
  });
});
