// Stream routes on a TLS listener (certificates of the ssls resource picked by SNI,
// routes picked by SNI) and on a UDP listener (a session per client address), through
// the real gateway on a standalone file (the file store serves stream_routes too, and
// rewriting it is the hot reload).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect } from 'node:tls';
import { createSocket } from 'node:dgram';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { makeCert } from '../../helpers/certs.js';
import { streamAddresses, tcpEcho, tcpExchange, udpAsk, udpEcho, type EchoServer, type StreamAddresses } from './stream-fixtures.js';

describe('stream routes: TLS with SNI, and UDP', () => {
  let gw: Gateway;
  let a: EchoServer;
  let b: EchoServer;
  let ua: EchoServer;
  let ub: EchoServer;
  let ports: StreamAddresses;
  const cert = makeCert(['a.stream.test', '*.wild.test']);
  const nodes = (...s: EchoServer[]): Record<string, number> => Object.fromEntries(s.map((x) => [`127.0.0.1:${x.port}`, 1]));
  const config = (streamRoutes: Record<string, unknown>[]): Record<string, unknown> => ({
    ssls: [{ id: 's1', snis: ['a.stream.test', '*.wild.test'], ...cert }],
    stream_routes: streamRoutes,
  });

  before(async () => {
    [a, b, ua, ub] = await Promise.all([tcpEcho('A:'), tcpEcho('B:'), udpEcho('UA:'), udpEcho('UB:')]);
    gw = await startGateway({
      workers: 2,
      config: config([]),
      extra: { stream_proxy: { tcp: ['127.0.0.1:0', { addr: '127.0.0.1:0', tls: true }], udp: ['127.0.0.1:0'], udp_idle_timeout: 1 } },
    });
    ports = streamAddresses(gw);
    assert.ok(ports.tls !== undefined && ports.udp !== undefined);
  });
  after(async () => {
    await gw?.stop();
    await Promise.all([a, b, ua, ub].map((s) => s?.close()));
  });

  it('terminates TLS with the ssl object for the SNI and routes by SNI (exact, then wildcard, then plain)', async () => {
    await gw.writeConfig(config([
      { id: 'exact', sni: 'a.stream.test', upstream: { nodes: nodes(a) } },
      { id: 'wild', sni: '*.wild.test', upstream: { nodes: nodes(b) } },
      { id: 'plain', server_port: ports.tls, upstream: { nodes: nodes(b) } },
    ]));
    await eventually(async () => (await tcpExchange(ports.tls!, 'x', { servername: 'a.stream.test' }).catch(() => ({ data: Buffer.alloc(0) }))).data.toString() === 'A:x');
    // the other worker has it too
    await eventually(async () => (await fetch(`${gw.statusUrl}/status/ready`)).status === 200);
    assert.equal((await tcpExchange(ports.tls!, 'w', { servername: 'deep.x.wild.test' })).data.toString(), 'B:w');
    const peer = await new Promise<string>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: ports.tls!, servername: 'a.stream.test', rejectUnauthorized: false }, () => {
        resolve(s.getPeerCertificate().subject.CN as string);
        s.destroy();
      });
      s.on('error', reject);
    });
    assert.equal(peer, 'a.stream.test');
    // a name with no certificate fails the handshake: nothing is proxied
    const unknown = await tcpExchange(ports.tls!, 'u', { servername: 'nope.test' }).catch(() => ({ data: Buffer.alloc(0) }));
    assert.equal(unknown.data.length, 0);
    // the plain listener does not see SNI routes
    assert.equal((await tcpExchange(ports.tcp, 'p')).data.length, 0);
  });

  it('proxies UDP datagrams per client session, balancing sessions across nodes', async () => {
    await gw.writeConfig(config([{ id: 'u', server_port: ports.udp, upstream: { nodes: nodes(ua, ub) } }]));
    await eventually(async () => (await udpAsk(ports.udp!, 'hello', 300)) !== undefined);
    // one client keeps its node for its whole session
    const client = createSocket('udp4');
    try {
      const first = await udpAsk(ports.udp!, 'one', 1500, client);
      const second = await udpAsk(ports.udp!, 'two', 1500, client);
      assert.ok(first !== undefined && second !== undefined);
      assert.equal(first.slice(0, 3), second.slice(0, 3));
    } finally {
      client.close();
    }
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) seen.add((await udpAsk(ports.udp!, 'q'))?.slice(0, 3) ?? 'none');
    assert.deepEqual([...seen].sort(), ['UA:', 'UB:']);
  });

  it('UDP: limit-conn counts sessions; an idle session ends after udp_idle_timeout and gives its slot back', async () => {
    // no route first, so the answer below can only come from the limited one
    await gw.writeConfig(config([]));
    await eventually(async () => (await udpAsk(ports.udp!, 'x', 300)) === undefined);
    await gw.writeConfig(config([{
      id: 'u', upstream: { nodes: nodes(ua) },
      plugins: { 'limit-conn': { conn: 1, burst: 0, default_conn_delay: 0.1, key: 'server_port' }, prometheus: {} },
    }]));
    const first = createSocket('udp4');
    try {
      await eventually(async () => (await udpAsk(ports.udp!, 'a', 300, first)) === 'UA:a');
      // the first client's session holds the only slot: another client is dropped
      assert.equal(await udpAsk(ports.udp!, 'b', 500), undefined);
    } finally {
      first.close();
    }
    // udp_idle_timeout is 1 s: the session ends, its slot is free again
    await eventually(async () => (await udpAsk(ports.udp!, 'c', 300)) === 'UA:c', 40, 100);
    await eventually(async () => /apisix_stream_status\{code="503",listen_addr="127\.0\.0\.1:\d+",node=""\} [1-9]/.test(await (await fetch(gw.metricsUrl)).text()));
  });

  it('UDP: ip-restriction drops a refused client; a deleted route stops answering', async () => {
    await gw.writeConfig(config([{
      id: 'u', upstream: { nodes: nodes(ua) }, plugins: { 'ip-restriction': { whitelist: ['10.0.0.0/8'] } },
    }]));
    await eventually(async () => (await udpAsk(ports.udp!, 'x', 300)) === undefined);
    await gw.writeConfig(config([{ id: 'u', upstream: { nodes: nodes(ua) } }]));
    await eventually(async () => (await udpAsk(ports.udp!, 'x', 300)) === 'UA:x');
    await gw.writeConfig(config([]));
    await eventually(async () => (await udpAsk(ports.udp!, 'x', 300)) === undefined);
    // a client that kept sending while no route matched is served as soon as one does
    const client = createSocket('udp4');
    try {
      assert.equal(await udpAsk(ports.udp!, 'early', 300, client), undefined);
      await gw.writeConfig(config([{ id: 'u2', upstream: { nodes: nodes(ub) } }]));
      await eventually(async () => (await udpAsk(ports.udp!, 'late', 300, client)) === 'UB:late');
    } finally {
      client.close();
    }
  });
});
