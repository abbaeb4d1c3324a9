import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWithUpstream, stopWithUpstream, eventually, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { startUdpLogServer, type UdpLogServer } from '../../helpers/log-servers.js';
import { assertDeadSinkCostsNothing } from '../../helpers/logger-checks.js';

// udp-logger against a UDP socket on 127.0.0.1: APISIX's default entry with the captured
// response body, and a server whose name does not resolve (a UDP server that is simply
// not listening cannot be noticed: UDP has no acknowledgement).

let gw: Gateway;
let up: TestUpstream;
let server: UdpLogServer;

before(async () => {
  server = await startUdpLogServer();
  ({ gw, up } = await startWithUpstream((upstream) => ({
    routes: [
      { id: 'udp', uri: '/udp', upstream, plugins: { 'udp-logger': {
        host: '127.0.0.1', port: server.port, batch_max_size: 1, include_resp_body: true, max_resp_body_bytes: 12,
      } } },
      { id: 'down', uri: '/down', upstream, plugins: { 'udp-logger': { host: 'no-such-host.invalid', port: 514, batch_max_size: 1, timeout: 1 } } },
    ],
  })));
});

after(async () => {
  await stopWithUpstream(gw, up);
  await server?.close();
});

test('each entry arrives as a datagram: APISIX\'s default shape, the response body capped', async () => {
  const r = await get(`${gw.url}/udp?k=v`, { headers: { 'x-trace': 't1' } });
  assert.equal(r.status, 200);
  await eventually(() => server.datagrams.length === 1);
  const entry = JSON.parse(server.datagrams[0]!);
  assert.equal(entry.route_id, 'udp');
  assert.equal(entry.request.uri, '/udp?k=v');
  assert.equal(entry.request.headers['x-trace'], 't1');
  assert.deepEqual(entry.request.querystring, { k: 'v' });
  assert.equal(entry.response.status, 200);
  assert.equal(entry.response.body, r.body.slice(0, 12));
  assert.equal(entry.upstream, `127.0.0.1:${up.port}`);
});

test('a server that cannot be reached costs the client nothing: drops counted, a bounded number of warnings', async () => {
  await assertDeadSinkCostsNothing(gw, '/down', 'udp-logger', 'udp logger');
});
