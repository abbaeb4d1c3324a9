import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

let gw: Gateway;
let up: TestUpstream;

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    routes: [
      { id: 'white', uri: '/white', upstream, plugins: { 'ip-restriction': { whitelist: ['127.0.0.0/24', '::1'] } } },
      { id: 'white-other', uri: '/white-other', upstream, plugins: { 'ip-restriction': { whitelist: ['10.0.0.0/8'] } } },
      { id: 'black', uri: '/black', upstream, plugins: { 'ip-restriction': { blacklist: ['127.0.0.1'], message: 'go away', response_code: 404 } } },
      // real-ip (rewrite) runs before ip-restriction (access): the restriction sees the real client
      { id: 'behind-proxy', uri: '/behind-proxy', upstream, plugins: {
        'real-ip': { source: 'http_x_real_ip', trusted_addresses: ['127.0.0.1'] },
        'ip-restriction': { blacklist: ['1.2.3.0/24'] },
      } },
    ],
  })));
});

after(() => stopWithUpstream(gw, up));

test('whitelist', async () => {
  assert.equal((await get(gw.url + '/white')).status, 200);
  const r = await get(gw.url + '/white-other');
  assert.equal(r.status, 403);
  assert.deepEqual(r.json(), { message: 'Your IP address is not allowed' });
});

test('blacklist with message and response_code', async () => {
  const r = await get(gw.url + '/black');
  assert.equal(r.status, 404);
  assert.deepEqual(r.json(), { message: 'go away' });
});

test('the address set by real-ip is the one restricted', async () => {
  assert.equal((await get(gw.url + '/behind-proxy')).status, 200);
  assert.equal((await get(gw.url + '/behind-proxy', { headers: { 'x-real-ip': '1.2.3.4' } })).status, 403);
  assert.equal((await get(gw.url + '/behind-proxy', { headers: { 'x-real-ip': '5.6.7.8' } })).status, 200);
});

test('a bad address in the config is reported with APISIX message and the route is not served', async () => {
  const from = gw.output().length;
  const upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
  await gw.writeConfig({ routes: [
    { id: 'white', uri: '/white', upstream, plugins: { 'ip-restriction': { whitelist: ['127.0.0.1'] } } },
    { id: 'bad', uri: '/bad', upstream, plugins: { 'ip-restriction': { whitelist: ['300.1.1.1'] } } },
  ] });
  await gw.waitForOutput(/invalid ip address: 300\.1\.1\.1/, from);
  assert.notEqual((await get(gw.url + '/bad')).status, 200);
});
