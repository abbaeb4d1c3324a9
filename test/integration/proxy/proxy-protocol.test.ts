import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { makeCert, type TestCert } from '../../helpers/certs.js';

// PROXY protocol listeners (node.listen[].proxy_protocol) through the real gateway: the
// header read before HTTP (and before TLS), its addresses as proxy_protocol_* variables,
// real-ip using them, and connections without a header refused.

let gw: Gateway;
let up: TestUpstream;
let cert: TestCert;
let ports: { plain: number; pp: number; ppTls: number };

const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

function v2Tcp6(src: string, dst: string, sport: number, dport: number): Buffer {
  const words = (ip: string): Buffer => {
    const [head, tail] = ip.split('::') as [string, string | undefined];
    const h = head === '' ? [] : head.split(':');
    const t = tail === undefined || tail === '' ? [] : tail.split(':');
    const all = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
    const b = Buffer.alloc(16);
    all.forEach((w, i) => b.writeUInt16BE(parseInt(w, 16), i * 2));
    return b;
  };
  const tail = Buffer.alloc(8);
  tail.writeUInt16BE(36, 0);
  tail.writeUInt16BE(sport, 4);
  tail.writeUInt16BE(dport, 6);
  return Buffer.concat([SIGNATURE, Buffer.from([0x21, 0x21]), tail.subarray(0, 2), words(src), words(dst), tail.subarray(4)]);
}

const V2_LOCAL = Buffer.concat([SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);

before(async () => {
  up = await startUpstream('pp-upstream');
  cert = makeCert(['pp.test']);
  const upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
  const echoVars = {
    'proxy-rewrite': { headers: { set: {
      'x-pp-addr': '$proxy_protocol_addr', 'x-pp-port': '$proxy_protocol_port',
      'x-pp-server': '$proxy_protocol_server_addr:$proxy_protocol_server_port',
    } } },
  };
  gw = await startGateway({
    node: {
      listen: [
        { host: '127.0.0.1', port: 0 },
        { host: '127.0.0.1', port: 0, proxy_protocol: true },
        { host: '127.0.0.1', port: 0, tls: true, proxy_protocol: true },
      ],
      client: { header_timeout: 1 },
    },
    config: {
      routes: [
        { id: 'vars', uri: '/vars', upstream, plugins: echoVars },
        { id: 'real-ip', uri: '/real-ip', upstream, plugins: { 'real-ip': { source: 'proxy_protocol_addr', trusted_addresses: ['127.0.0.0/8'] } } },
        { id: 'http-real-ip', uri: '/http-real-ip', upstream, plugins: { 'http-real-ip': { source: 'proxy_protocol_addr' } } },
        { id: 'untrusted', uri: '/untrusted', upstream, plugins: { 'real-ip': { source: 'proxy_protocol_addr', trusted_addresses: ['10.0.0.0/8'] } } },
      ],
      ssls: [{ id: 'pp', snis: ['pp.test'], cert: cert.cert, key: cert.key }],
    },
  });
  const line = gw.output().split('\n').find((l) => l.includes('gatehouse started'))!;
  const listen = (JSON.parse(line) as { listen: { port: number }[] }).listen;
  ports = { plain: listen[0]!.port, pp: listen[1]!.port, ppTls: listen[2]!.port };
});

after(async () => {
  await gw?.stop();
  await up?.close();
});

/** Sends `prefix` then one HTTP request (over TLS when `servername` is set); the whole answer, or `refused` when the connection ends without one. */
function exchange(port: number, prefix: Buffer | string, path: string, servername?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const raw = net.connect(port, '127.0.0.1');
    let out = '';
    const request = `GET ${path} HTTP/1.1\r\nHost: pp.test\r\nConnection: close\r\n\r\n`;
    const settle = (): void => resolve(out === '' ? 'refused' : out);
    raw.setTimeout(5_000, () => raw.destroy(new Error('no answer within 5 s')));
    raw.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? settle() : reject(err)));
    raw.on('connect', () => {
      if (prefix.length > 0) raw.write(prefix);
      if (servername === undefined) {
        raw.write(request);
        raw.on('data', (c: Buffer) => { out += c.toString('latin1'); });
        raw.on('close', settle);
        return;
      }
      const t = tls.connect({ socket: raw, servername, ca: cert.cert });
      t.on('secureConnect', () => t.write(request));
      t.on('data', (c: Buffer) => { out += c.toString('latin1'); });
      t.on('error', () => settle());
      t.on('close', settle);
    });
  });
}

const statusOf = (answer: string): string => answer.split('\r\n')[0]!;
const lastSeen = () => up.seen[up.seen.length - 1]!.headers;
const clientSeen = () => String(lastSeen()['x-forwarded-for']).split(',').pop()!.trim();

test('v1 header on a plain listener: the variables hold its addresses', async () => {
  const answer = await exchange(ports.pp, 'PROXY TCP4 203.0.113.7 10.0.0.1 51234 9080\r\n', '/vars');
  assert.equal(statusOf(answer), 'HTTP/1.1 200 OK');
  const h = lastSeen();
  assert.deepEqual([h['x-pp-addr'], h['x-pp-port'], h['x-pp-server']], ['203.0.113.7', '51234', '10.0.0.1:9080']);
});

test('v2 TCP6 header, the request in the same write', async () => {
  const header = v2Tcp6('2001:db8::7', '2001:db8::1', 40000, 443);
  const answer = await exchange(ports.pp, Buffer.concat([header, Buffer.from('GET /vars HTTP/1.1\r\nHost: x\r\n\r\n')]), '/vars');
  // two requests were sent on the connection (the second closes it): both answered
  assert.equal(answer.match(/HTTP\/1\.1 200 OK/g)?.length, 2);
  const h = lastSeen();
  assert.deepEqual([h['x-pp-addr'], h['x-pp-port'], h['x-pp-server']], ['2001:db8::7', '40000', '2001:db8::1:443']);
});

test('v2 LOCAL (a health check) is served, without addresses', async () => {
  assert.equal(statusOf(await exchange(ports.pp, V2_LOCAL, '/vars')), 'HTTP/1.1 200 OK');
  assert.notEqual(lastSeen()['x-pp-addr'], '203.0.113.7');
  assert.ok(!String(lastSeen()['x-pp-addr'] ?? '').includes('.'));
});

test('TLS listener: the header comes before the handshake', async () => {
  const answer = await exchange(ports.ppTls, 'PROXY TCP4 198.51.100.9 10.0.0.2 6000 443\r\n', '/vars', 'pp.test');
  assert.equal(statusOf(answer), 'HTTP/1.1 200 OK');
  const h = lastSeen();
  assert.deepEqual([h['x-pp-addr'], h['x-pp-port'], h['x-pp-server']], ['198.51.100.9', '6000', '10.0.0.2:443']);
});

test('real-ip (and http-real-ip) with source proxy_protocol_addr; trusted_addresses is the TCP peer', async () => {
  assert.equal(statusOf(await exchange(ports.pp, 'PROXY TCP4 203.0.113.8 10.0.0.1 1 2\r\n', '/real-ip')), 'HTTP/1.1 200 OK');
  assert.equal(clientSeen(), '203.0.113.8');
  assert.equal(statusOf(await exchange(ports.ppTls, 'PROXY TCP4 203.0.113.9 10.0.0.1 1 2\r\n', '/http-real-ip', 'pp.test')), 'HTTP/1.1 200 OK');
  assert.equal(clientSeen(), '203.0.113.9');
  // the peer (127.0.0.1) is not in 10.0.0.0/8: the address stays the peer's
  assert.equal(statusOf(await exchange(ports.pp, 'PROXY TCP4 203.0.113.10 10.0.0.1 1 2\r\n', '/untrusted')), 'HTTP/1.1 200 OK');
  assert.equal(clientSeen(), '127.0.0.1');
});

test('a connection without a valid header is refused, plain or TLS', async () => {
  const before = up.seen.length;
  assert.equal(await exchange(ports.pp, '', '/vars'), 'refused');
  assert.equal(await exchange(ports.pp, 'PROXY TCP4 999.0.0.1 10.0.0.1 1 2\r\n', '/vars'), 'refused');
  assert.equal(await exchange(ports.pp, `PROXY UNKNOWN ${'x'.repeat(200)}\r\n`, '/vars'), 'refused');
  assert.equal(await exchange(ports.ppTls, '', '/vars', 'pp.test'), 'refused');
  assert.equal(up.seen.length, before);
});

test('a connection that sends no header is closed after header_timeout', async () => {
  const started = Date.now();
  const closed = await new Promise<boolean>((resolve) => {
    const s = net.connect(ports.pp, '127.0.0.1', () => s.write('PROXY TCP4 '));
    s.on('error', () => undefined);
    s.on('close', () => resolve(true));
    setTimeout(() => { resolve(false); s.destroy(); }, 5_000).unref();
  });
  assert.ok(closed, 'closed before 5 s');
  assert.ok(Date.now() - started >= 900, 'not before the timeout');
});

test('a listener without proxy_protocol is unaffected: no header read, the variables nil', async () => {
  assert.equal(statusOf(await exchange(ports.plain, '', '/vars')), 'HTTP/1.1 200 OK');
  assert.ok(!String(lastSeen()['x-pp-addr'] ?? '').includes('.'));
  // a PROXY line there is just a bad request line
  assert.equal(statusOf(await exchange(ports.plain, 'PROXY TCP4 203.0.113.7 10.0.0.1 1 2\r\n', '/vars')), 'HTTP/1.1 400 Bad Request');
});
