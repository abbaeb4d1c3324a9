import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import plugin, { groupMessages, syslogHostname, syslogMessage } from './syslog.js';
import { TcpConnectionPool } from './common/log-sockets.js';
import type { StreamSession } from '../contracts/plugin.js';
import { createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';
import { startTcpLogServer, startUdpLogServer, until, expectBatchFailure } from '../../test/helpers/log-servers.js';

after(() => plugin.destroy!());

test('declares statistics 401 with APISIX\'s fields and defaults', () => {
  assert.equal(plugin.priority, 401);
  assert.match(schemaError(plugin.schema, { host: 'h', port: 514, sock_type: 'tls' })!, /sock_type/);
  assert.match(schemaError(plugin.schema, { host: 'h', port: 514, pool_size: 4 })!, /pool_size/);
  const p = prepareWith(plugin, { host: '127.0.0.1', port: 514 });
  assert.deepEqual(
    { flush_limit: p.conf.flush_limit, drop_limit: p.conf.drop_limit, timeout: p.conf.timeout, sock_type: p.conf.sock_type, pool_size: p.conf.pool_size, tls: p.conf.tls, inactive_timeout: p.conf.inactive_timeout },
    { flush_limit: 4096, drop_limit: 1048576, timeout: 3000, sock_type: 'tcp', pool_size: 5, tls: false, inactive_timeout: 5 });
  assert.throws(() => prepareWith(plugin, { host: 'h', port: 514, sock_type: 'udp', tls: true }), /tls: syslog over UDP cannot use TLS/);
});

test('an RFC 5424 message: PRI 46, version 1, UTC timestamp, host, apisix, pid, no MSGID or SD, the JSON', () => {
  assert.equal(syslogMessage('example.com', '{"a":1}', new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678))),
    `<46>1 2024-01-02T03:04:05.678Z example.com apisix ${process.pid} - - {"a":1}`);
  assert.equal(syslogHostname('api.example.com'), 'api.example.com');
  for (const bad of [undefined, '', 'has space', 'x'.repeat(256), 'naïve']) assert.equal(syslogHostname(bad), '-');
});

test('a batch is written LF-framed in pieces of at most flush_limit bytes; messages over drop_limit are left out', () => {
  // m(n): a message of n bytes once framed
  const m = (n: number): string => 'x'.repeat(n - 1);
  const f = (n: number): string => `${m(n)}\n`;
  assert.deepEqual(groupMessages([m(4), m(4), m(4)], 8, 100), { writes: [f(4) + f(4), f(4)], tooLarge: 0 });
  assert.deepEqual(groupMessages([m(20), m(4)], 8, 100), { writes: [f(20), f(4)], tooLarge: 0 });
  assert.deepEqual(groupMessages([m(4), m(200), m(4)], 8, 100), { writes: [f(4) + f(4)], tooLarge: 1 });
  assert.deepEqual(groupMessages([m(101)], 8, 100), { writes: [], tooLarge: 1 }, 'the LF counts');
});

test('the sender writes in flush_limit pieces and leaves out messages over drop_limit (tcp and udp)', async (t) => {
  const tcp = await startTcpLogServer();
  const udp = await startUdpLogServer();
  // what the pool is asked to write, piece by piece (TCP does not keep write boundaries)
  const writes: string[] = [];
  const send = TcpConnectionPool.prototype.send;
  t.mock.method(TcpConnectionPool.prototype, 'send', function (this: TcpConnectionPool, data: string | Buffer) {
    writes.push(String(data));
    return send.call(this, data);
  });
  try {
    const m = (n: number): string => 'x'.repeat(n);
    const limits = { flush_limit: 10, drop_limit: 50 };
    const viaTcp = prepareWith(plugin, { host: '127.0.0.1', port: tcp.port, ...limits });
    await viaTcp.sink.send([m(5), m(5), m(60), m(3)]);
    assert.deepEqual(writes, [`${m(5)}\n`, `${m(5)}\n${m(3)}\n`]);
    const viaUdp = prepareWith(plugin, { host: '127.0.0.1', port: udp.port, sock_type: 'udp', ...limits });
    await viaUdp.sink.send([m(29), m(60), m(51), m(50)]);
    await until(() => udp.datagrams.length === 2);
    assert.deepEqual(udp.datagrams.map((d) => d.length), [29, 50], 'a datagram has no LF; over drop_limit left out');
  } finally {
    await plugin.destroy!();
    await tcp.close();
    await udp.close();
  }
});

test('tcp: messages are LF-framed on a kept-alive connection, reused by the next batch', async () => {
  const server = await startTcpLogServer();
  try {
    const p = prepareWith(plugin, { host: '127.0.0.1', port: server.port, batch_max_size: 2, log_format: { u: '$uri' } });
    for (const uri of ['/1', '/2']) plugin.log!(p, createTestContext({ uri, host: 'api.test' }));
    await until(() => p.processor!.sent === 1);
    for (const uri of ['/3', '/4']) plugin.log!(p, createTestContext({ uri, host: 'api.test' }));
    await until(() => p.processor!.sent === 2);
    assert.equal(server.accepted(), 1, 'one connection for both batches');
    await plugin.destroy!(); // closes the pool: the server sees the end of the connection
    await until(() => server.connections.length === 1);
    const lines = server.connections[0]!.data.split('\n');
    assert.equal(lines.pop(), '', 'every message ends in LF');
    assert.deepEqual(lines.map((l) => JSON.parse(l.split(' - - ')[1]!)), [{ u: '/1' }, { u: '/2' }, { u: '/3' }, { u: '/4' }]);
    for (const l of lines) assert.match(l, new RegExp(`^<46>1 \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z api\\.test apisix ${process.pid} - - `));
  } finally {
    await server.close();
  }
});

test('udp: one message per datagram, without the LF', async () => {
  const server = await startUdpLogServer();
  try {
    const p = prepareWith(plugin, { host: '127.0.0.1', port: server.port, sock_type: 'udp', batch_max_size: 2, log_format: { u: '$uri' } });
    plugin.log!(p, createTestContext({ uri: '/a' }));
    plugin.log!(p, createTestContext({ uri: '/b' }));
    await until(() => server.datagrams.length === 2);
    assert.deepEqual(server.datagrams.map((d) => d.endsWith('}')), [true, true]);
    assert.deepEqual(server.datagrams.map((d) => JSON.parse(d.split(' - - ')[1]!)), [{ u: '/a' }, { u: '/b' }]);
  } finally {
    await server.close();
  }
});

test('a refused connection fails the batch, never the request', async () => {
  await expectBatchFailure(plugin, { host: '127.0.0.1', port: 1, batch_max_size: 1 });
});

/** A finished TCP session with these variables. */
function session(vars: Record<string, unknown>): StreamSession {
  return { protocol: 'tcp', remoteAddr: '10.0.0.7', routeId: 's1', startedAt: performance.now(), shared: new Map(), var: (n: string) => vars[n] } as unknown as StreamSession;
}

test('stream routes: the session\'s variables in log_format, no host; HTTP-only variables and bodies are refused there', async () => {
  const server = await startUdpLogServer();
  try {
    const stream = { subsystem: 'stream' as const };
    assert.throws(() => prepareWith(plugin, { host: 'h', port: 514, log_format: { u: '$uri' } }, stream), /log_format.u: unknown variable '\$uri'/);
    assert.throws(() => prepareWith(plugin, { host: 'h', port: 514, include_req_body: true }, stream), /include_req_body: a stream route has no HTTP body to log/);
    assert.throws(() => prepareWith(plugin, { host: 'h', port: 514, log_format: { t: '$session_time' } }), /log_format.t: unknown variable '\$session_time'/);
    const p = prepareWith(plugin, { host: '127.0.0.1', port: server.port, sock_type: 'udp', batch_max_size: 2,
      log_format: { client: '$remote_addr', in: '$bytes_received', proto: '$protocol' } }, stream);
    plugin.stream!.log!(p, session({ remote_addr: '10.0.0.7', bytes_received: 42, protocol: 'TCP' }));
    // without a log_format: the session's default entry
    const plain = prepareWith(plugin, { host: '127.0.0.1', port: server.port, sock_type: 'udp', batch_max_size: 1 }, stream);
    plugin.stream!.log!(plain, session({ protocol: 'UDP', status: 200, bytes_sent: 9, upstream_addr: '10.0.0.9:53' }));
    plugin.stream!.log!(p, session({ remote_addr: '10.0.0.8', bytes_received: 7, protocol: 'TCP' }));
    await until(() => server.datagrams.length === 3);
    for (const d of server.datagrams) assert.match(d, new RegExp(`^<46>1 \\S+ - apisix ${process.pid} - - `));
    const entries = server.datagrams.map((d) => JSON.parse(d.split(' - - ')[1]!) as Record<string, unknown>);
    const custom = entries.filter((e) => 'client' in e);
    assert.deepEqual(custom, [
      { client: '10.0.0.7', in: 42, proto: 'TCP', route_id: 's1', service_id: '' },
      { client: '10.0.0.8', in: 7, proto: 'TCP', route_id: 's1', service_id: '' },
    ]);
    const def = entries.find((e) => !('client' in e))!;
    assert.deepEqual({ route: def.route_id, protocol: def.protocol, client: def.client_ip, status: def.status, sent: def.bytes_sent, upstream: def.upstream },
      { route: 's1', protocol: 'UDP', client: '10.0.0.7', status: 200, sent: 9, upstream: '10.0.0.9:53' });
  } finally {
    await server.close();
  }
});
