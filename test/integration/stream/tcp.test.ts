// Stream routes over TCP through the real gateway (two workers, sqlite store, Admin API):
// proxying to real echo servers, matching, balancing, an unhealthy node skipped, the
// stream plugins, a bounded bulk transfer with half-close, Admin API refusals, hot reload.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { adminClient, type AdminCall } from '../admin/client.js';
import { streamAddresses, tcpEcho, tcpExchange, tcpHold, type EchoServer, type StreamAddresses } from './stream-fixtures.js';

describe('stream routes: TCP', () => {
  let gw: Gateway;
  let call: AdminCall;
  let a: EchoServer;
  let b: EchoServer;
  let ports: StreamAddresses;
  const upstreamOf = (...servers: EchoServer[]): Record<string, unknown> => ({
    type: 'roundrobin', nodes: Object.fromEntries(servers.map((s) => [`127.0.0.1:${s.port}`, 1])), timeout: { connect: 1, send: 5, read: 5 },
  });
  /** Both workers serve the newest config (a change seen by one connection may not have reached the other worker yet). */
  const applied = (): Promise<void> => eventually(async () => (await fetch(`${gw.statusUrl}/status/ready`)).status === 200);
  const put = async (id: string, body: Record<string, unknown>): Promise<void> => {
    const r = await call('PUT', `/stream_routes/${id}`, body);
    assert.equal(r.status < 300, true, r.text);
    await applied();
  };

  before(async () => {
    a = await tcpEcho('A:');
    b = await tcpEcho('B:');
    gw = await startGateway({
      store: 'sqlite', workers: 2,
      extra: { stream_proxy: { tcp: ['127.0.0.1:0'], idle_timeout: 2 } },
    });
    call = adminClient(gw);
    ports = streamAddresses(gw);
  });
  after(async () => {
    await gw?.stop();
    await a?.close();
    await b?.close();
  });

  it('proxies to the upstream and balances across its two nodes', async () => {
    await put('1', { server_port: ports.tcp, upstream: upstreamOf(a, b) });
    await eventually(async () => (await tcpExchange(ports.tcp, 'hi')).data.toString().endsWith('hi'));
    const tags = new Set<string>();
    for (let i = 0; i < 6; i++) tags.add((await tcpExchange(ports.tcp, 'ping')).data.toString());
    assert.deepEqual([...tags].sort(), ['A:ping', 'B:ping']);
  });

  it('matches the most specific route: remote_addr, then a plain route; a wrong server_port never matches', async () => {
    await put('2', { remote_addr: '127.0.0.0/24', server_port: ports.tcp, upstream: upstreamOf(b) });
    await put('3', { remote_addr: '10.0.0.0/8', upstream: upstreamOf(a) });
    await eventually(async () => (await tcpExchange(ports.tcp, 'x')).data.toString() === 'B:x');
    for (let i = 0; i < 4; i++) assert.equal((await tcpExchange(ports.tcp, 'y')).data.toString(), 'B:y');
    await call('DELETE', '/stream_routes/2');
    await call('DELETE', '/stream_routes/1');
    await applied();
    await put('4', { server_port: 1, upstream: upstreamOf(a) });
    // only routes 3 (another client network) and 4 (another port) are left: closed without a byte
    await eventually(async () => (await tcpExchange(ports.tcp, 'z')).data.length === 0);
    await call('DELETE', '/stream_routes/3');
    await call('DELETE', '/stream_routes/4');
  });

  it('skips a node that refuses connections and keeps it out once its passive check marks it down', async () => {
    const dead = await tcpEcho('D:');
    await dead.close();
    await put('5', {
      upstream: {
        ...upstreamOf(a), nodes: { [`127.0.0.1:${a.port}`]: 1, [`127.0.0.1:${dead.port}`]: 1 },
        checks: {
          active: { type: 'tcp', healthy: { interval: 1, successes: 1 }, unhealthy: { interval: 1, tcp_failures: 1 } },
          passive: { type: 'tcp', unhealthy: { tcp_failures: 1 } },
        },
      },
    });
    await eventually(async () => (await tcpExchange(ports.tcp, 'h')).data.toString() === 'A:h');
    for (let i = 0; i < 6; i++) assert.equal((await tcpExchange(ports.tcp, 'h')).data.toString(), 'A:h');
  });

  it('moves 8 MiB each way with backpressure, and passes the half-close on', async () => {
    const payload = Buffer.alloc(8 * 1024 * 1024, 7);
    const { data } = await tcpExchange(ports.tcp, payload, { timeoutMs: 20_000 });
    assert.equal(data.length, 2 + payload.length);
    assert.equal(data.subarray(2).equals(payload), true);
  });

  it('ip-restriction closes a refused client; limit-conn closes connections over conn + burst', async () => {
    await put('5', { upstream: upstreamOf(a), plugins: { 'ip-restriction': { blacklist: ['127.0.0.1'] } } });
    await eventually(async () => (await tcpExchange(ports.tcp, 'q')).data.length === 0);
    await put('5', {
      upstream: upstreamOf(a),
      plugins: { 'limit-conn': { conn: 1, burst: 0, default_conn_delay: 0.1, key: 'remote_addr' }, prometheus: {} },
    });
    await eventually(async () => (await tcpExchange(ports.tcp, 'q')).data.toString() === 'A:q');
    // the exchange's slot is released once its close reaches the counters, which may come
    // after the next connection: hold one as soon as the slot is free
    let first = await tcpHold(ports.tcp);
    await eventually(async () => {
      if (first.got === 'A:') return true;
      first = await tcpHold(ports.tcp);
      return false;
    });
    assert.equal(first.got, 'A:');
    const second = await tcpHold(ports.tcp);
    assert.equal(second.closed, true);
    assert.equal(second.got, '');
    first.socket.destroy();
    await eventually(async () => (await tcpExchange(ports.tcp, 'r')).data.toString() === 'A:r');
  });

  it('prometheus counts connections and bytes of the route', async () => {
    await eventually(async () => {
      const text = await (await fetch(gw.metricsUrl)).text();
      return /apisix_stream_connection_total\{route="5"\} [1-9]/.test(text)
        && /apisix_stream_bandwidth\{listen_addr="127\.0\.0\.1:\d+",type="ingress",side="downstream"\} [1-9]/.test(text)
        && /apisix_stream_status\{code="503",/.test(text);
    });
  });

  it('closes a connection idle for idle_timeout', async () => {
    await put('5', { upstream: upstreamOf(a) });
    await eventually(async () => (await tcpExchange(ports.tcp, 'q')).data.toString() === 'A:q');
    const held = await tcpHold(ports.tcp);
    assert.equal(held.got, 'A:');
    const closed = await new Promise<number>((resolve) => {
      const t0 = Date.now();
      held.socket.once('close', () => resolve(Date.now() - t0));
      setTimeout(() => resolve(-1), 6000);
    });
    assert.ok(closed > 0 && closed < 5000, `closed after ${closed} ms`);
  });

  it('Admin API: 400 naming a non-stream plugin, a missing upstream_id, bad addresses; in-use upstreams are kept', async () => {
    let r = await call('PUT', '/stream_routes/9', { upstream: upstreamOf(a), plugins: { 'key-auth': {} } });
    assert.equal(r.status, 400);
    assert.match(r.body.error_msg, /key-auth is not a stream plugin: stream routes take .*ip-restriction.*limit-conn/);
    r = await call('PUT', '/stream_routes/9', { upstream_id: 'nope' });
    assert.equal(r.status, 400);
    assert.equal(r.body.error_msg, 'failed to fetch upstream info by upstream id [nope], response code: 404');
    r = await call('PUT', '/stream_routes/9', { remote_addr: 'not-an-ip', upstream: upstreamOf(a) });
    assert.equal(r.status, 400);
    assert.match(r.body.error_msg, /remote_addr/);
    r = await call('PUT', '/stream_routes/9', { server_port: 70000, upstream: upstreamOf(a) });
    assert.equal(r.status, 400);
    assert.match(r.body.error_msg, /server_port/);
    r = await call('PUT', '/stream_routes/9', { uri: '/x', upstream: upstreamOf(a) });
    assert.equal(r.status, 400);
    assert.match(r.body.error_msg, /uri/);
    r = await call('PATCH', '/stream_routes/5', { server_port: 1 });
    assert.equal(r.status, 405);

    assert.equal((await call('PUT', '/upstreams/u1', upstreamOf(b))).status, 201);
    await put('5', { upstream_id: 'u1' });
    await eventually(async () => (await tcpExchange(ports.tcp, 'u')).data.toString() === 'B:u');
    r = await call('DELETE', '/upstreams/u1');
    assert.equal(r.status, 400);
    assert.equal(r.body.error_msg, 'can not delete this upstream, stream route [5] is still using it now');
    const list = await call('GET', '/stream_routes');
    assert.equal(list.status, 200);
    assert.equal(list.body.total, 1);
    assert.equal(list.body.list[0].value.upstream_id, 'u1');
  });

  it('a change applies without restart and an established connection keeps going', async () => {
    const held = await tcpHold(ports.tcp);
    assert.equal(held.got, 'B:');
    await put('5', { upstream: upstreamOf(a) });
    await eventually(async () => (await tcpExchange(ports.tcp, 'n')).data.toString() === 'A:n');
    const echoed = await new Promise<string>((resolve) => {
      held.socket.once('data', (c: Buffer) => resolve(c.toString()));
      held.socket.write('still');
      setTimeout(() => resolve(''), 2000);
    });
    assert.equal(echoed, 'still');
    held.socket.destroy();
    await call('DELETE', '/stream_routes/5');
    await eventually(async () => (await tcpExchange(ports.tcp, 'g')).data.length === 0);
  });

  it('a service lends its upstream to a stream route, and is kept while the route uses it', async () => {
    assert.equal((await call('PUT', '/upstreams/u2', upstreamOf(a))).status, 201);
    assert.equal((await call('PUT', '/services/s1', { upstream_id: 'u2' })).status, 201);
    await put('7', { service_id: 's1' });
    await eventually(async () => (await tcpExchange(ports.tcp, 's')).data.toString() === 'A:s');
    const r = await call('DELETE', '/services/s1');
    assert.equal(r.status, 400);
    assert.equal(r.body.error_msg, 'can not delete this service directly, stream route [7] is still using it now');
    assert.equal((await call('PUT', '/stream_routes/8', { service_id: 'missing' })).body.error_msg,
      'failed to fetch service info by service id [missing], response code: 404');
    await call('DELETE', '/stream_routes/7');
  });
});
