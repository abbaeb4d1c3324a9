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
      { id: 'header', uri: '/header', upstream, plugins: { 'real-ip': { source: 'http_x_real_ip' } } },
      { id: 'arg', uri: '/arg', upstream, plugins: { 'real-ip': { source: 'arg_realip' } } },
      { id: 'xff', uri: '/xff', upstream, plugins: { 'real-ip': { source: 'http_x_forwarded_for', trusted_addresses: ['127.0.0.0/8', '10.0.0.0/8'], recursive: true } } },
      { id: 'untrusted', uri: '/untrusted', upstream, plugins: { 'real-ip': { source: 'http_x_real_ip', trusted_addresses: ['10.0.0.0/8'] } } },
      { id: 'filtered', uri: '/filtered', upstream, plugins: {
        'real-ip': { source: 'http_x_real_ip' },
        // `_meta.filter` of a later plugin sees the new remote_addr
        'ip-restriction': { blacklist: ['0.0.0.0/0'], _meta: { filter: [['remote_addr', '==', '9.9.9.9']] } },
      } },
    ],
  })));
});

after(() => stopWithUpstream(gw, up));

/** The client address the upstream was told (the last X-Forwarded-For hop the gateway added). */
const seenAs = async (path: string, headers: Record<string, string> = {}): Promise<string> => {
  const r = await get(gw.url + path, { headers });
  assert.equal(r.status, 200);
  return String(r.json().headers['x-forwarded-for']).split(',').pop()!.trim();
};

test('a header source sets the client address', async () => {
  assert.equal(await seenAs('/header', { 'x-real-ip': '1.2.3.4' }), '1.2.3.4');
  assert.equal(await seenAs('/header', { 'x-real-ip': '[2001:db8::1]:8080' }), '2001:db8::1');
  assert.equal(await seenAs('/header'), '127.0.0.1');
  assert.equal(await seenAs('/header', { 'x-real-ip': 'garbage' }), '127.0.0.1');
});

test('a query argument source', async () => {
  const r = await get(gw.url + '/arg?realip=5.6.7.8');
  assert.equal(String(r.json().headers['x-forwarded-for']).split(',').pop()!.trim(), '5.6.7.8');
});

test('X-Forwarded-For, recursive over trusted proxies', async () => {
  assert.equal(await seenAs('/xff', { 'x-forwarded-for': '1.1.1.1, 2.2.2.2, 10.0.0.1' }), '2.2.2.2');
});

test('only trusted peers may set the address', async () => {
  assert.equal(await seenAs('/untrusted', { 'x-real-ip': '1.2.3.4' }), '127.0.0.1');
});

test('later plugins see the new remote_addr', async () => {
  assert.equal((await get(gw.url + '/filtered', { headers: { 'x-real-ip': '9.9.9.9' } })).status, 403);
  assert.equal((await get(gw.url + '/filtered', { headers: { 'x-real-ip': '8.8.8.8' } })).status, 200);
});
