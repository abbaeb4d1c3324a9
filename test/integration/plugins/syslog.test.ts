import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWithUpstream, stopWithUpstream, eventually, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { startRsyslog, type SyslogRecord, type TestRsyslog } from '../../helpers/rsyslog.js';
import { assertDeadSinkCostsNothing } from '../../helpers/logger-checks.js';
import { streamAddresses, tcpEcho, tcpExchange, type EchoServer } from '../stream/stream-fixtures.js';

// syslog against a real rsyslogd (imtcp and imudp on loopback ports, an omfile action):
// what rsyslog parsed out of the gateway's RFC 5424 messages, over TCP (LF-framed, a
// batch of several messages on one connection) and UDP, a stream route's sessions, and a
// dead server.

let gw: Gateway;
let up: TestUpstream;
let rsyslog: TestRsyslog;
let echo: EchoServer;

before(async () => {
  rsyslog = await startRsyslog();
  echo = await tcpEcho('E:');
  ({ gw, up } = await startWithUpstream((upstream) => ({
    stream_routes: [{ id: 'st', upstream: { nodes: { [`127.0.0.1:${echo.port}`]: 1 } }, plugins: { syslog: {
      host: '127.0.0.1', port: rsyslog.tcpPort, batch_max_size: 1,
      log_format: { client: '$remote_addr', in: '$bytes_received', out: '$bytes_sent', proto: '$protocol', upstream: '$upstream_addr' },
    } } }],
    plugin_metadata: [{ id: 'syslog', log_format: { path: '$uri', status: '$status', client: '$remote_addr' } }],
    routes: [
      { id: 'tcp', uri: '/tcp', upstream, plugins: { syslog: { host: '127.0.0.1', port: rsyslog.tcpPort, batch_max_size: 3 } } },
      { id: 'udp', uri: '/udp', upstream, plugins: { syslog: {
        host: '127.0.0.1', port: rsyslog.udpPort, sock_type: 'udp', batch_max_size: 1, log_format: { args: '$args', method: '$request_method' },
      } } },
      { id: 'down', uri: '/down', upstream, plugins: { syslog: { host: '127.0.0.1', port: 1, batch_max_size: 1, timeout: 500 } } },
    ],
  }), { extra: { stream_proxy: { tcp: ['127.0.0.1:0'] } } }));
});

after(async () => {
  await stopWithUpstream(gw, up);
  await rsyslog?.close();
  await echo?.close();
});

function fromRoute(route: string): SyslogRecord[] {
  return rsyslog.messages().filter((m) => (JSON.parse(m.msg) as { route_id?: string }).route_id === route);
}

test('tcp: a batch of three LF-framed messages, each parsed by rsyslog as RFC 5424 with the metadata\'s log_format', async () => {
  for (const n of [1, 2, 3]) {
    assert.equal((await get(`${gw.url}/tcp?n=${n}`, { headers: { host: 'api.example.test' } })).status, 200);
  }
  await eventually(() => fromRoute('tcp').length === 3);
  for (const m of fromRoute('tcp')) {
    assert.equal(m.input, 'imtcp');
    assert.equal(m.pri, 46);
    assert.equal(m.version, '1');
    assert.equal(m.hostname, 'api.example.test');
    assert.equal(m.appName, 'apisix');
    assert.match(m.procid, /^\d+$/);
    assert.equal(m.msgid, '-');
    assert.equal(m.structuredData, '-');
    assert.ok(Math.abs(Date.parse(m.timestamp) - Date.now()) < 60_000, m.timestamp);
    assert.deepEqual(JSON.parse(m.msg), { path: '/tcp', status: 200, client: '127.0.0.1', route_id: 'tcp', service_id: '' });
  }
});

test('udp: one datagram per message; the instance\'s log_format wins over the metadata', async () => {
  assert.equal((await get(`${gw.url}/udp?k=v`)).status, 200);
  await eventually(() => fromRoute('udp').length === 1);
  const [m] = fromRoute('udp');
  assert.equal(m!.input, 'imudp');
  assert.equal(m!.pri, 46);
  assert.equal(m!.hostname, '127.0.0.1');
  assert.deepEqual(JSON.parse(m!.msg), { args: 'k=v', method: 'GET', route_id: 'udp', service_id: '' });
});

test('stream route: a finished TCP session is logged with its own variables (no host)', async () => {
  const ex = await tcpExchange(streamAddresses(gw).tcp, 'hello');
  assert.match(ex.data.toString(), /^E:/);
  await eventually(() => fromRoute('st').length === 1);
  const [m] = fromRoute('st');
  assert.equal(m!.pri, 46);
  assert.equal(m!.hostname, '-');
  assert.equal(m!.appName, 'apisix');
  assert.deepEqual(JSON.parse(m!.msg), {
    client: '127.0.0.1', in: 5, out: ex.data.length, proto: 'TCP', upstream: `127.0.0.1:${echo.port}`, route_id: 'st', service_id: '',
  });
});

test('a dead server costs the client nothing: backoff, drops counted, a bounded number of warnings', async () => {
  await assertDeadSinkCostsNothing(gw, '/down', 'syslog', 'sys logger');
});
