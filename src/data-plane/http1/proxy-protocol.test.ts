import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { parseProxyHeader, proxyAddressesOf, readProxyHeader, V2_MAX, type ProxyHeaderResult } from './proxy-protocol.js';

const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

function v2(command: number, family: number, addresses: Buffer, tlvs = Buffer.alloc(0)): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(addresses.length + tlvs.length);
  return Buffer.concat([SIGNATURE, Buffer.from([0x20 | command, family]), length, addresses, tlvs]);
}

const ports = (src: number, dst: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt16BE(src); b.writeUInt16BE(dst, 2); return b; };
const tcp4 = (): Buffer => Buffer.concat([Buffer.from([203, 0, 113, 7, 10, 0, 0, 1]), ports(51234, 443)]);
const tcp6 = (): Buffer => Buffer.concat([
  Buffer.from('20010db8000000000000000000000007', 'hex'), Buffer.from('20010db8000000010000000000000000', 'hex'), ports(40000, 8443),
]);
const done = (r: ProxyHeaderResult) => { assert.equal(r.state, 'done', JSON.stringify(r)); return r as Extract<ProxyHeaderResult, { state: 'done' }>; };
const refused = (r: ProxyHeaderResult, reason: RegExp) => { assert.equal(r.state, 'error'); assert.match((r as { reason: string }).reason, reason); };

test('v1 TCP4 and TCP6 give the addresses and the header length', () => {
  const line = 'PROXY TCP4 203.0.113.7 10.0.0.1 51234 443\r\n';
  const r = done(parseProxyHeader(Buffer.from(`${line}GET / HTTP/1.1\r\n`)));
  assert.equal(r.consumed, line.length);
  assert.deepEqual(r.addresses, { sourceAddr: '203.0.113.7', sourcePort: 51234, destAddr: '10.0.0.1', destPort: 443 });
  const r6 = done(parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::7 ::ffff:10.0.0.1 1 65535\r\n')));
  assert.deepEqual(r6.addresses, { sourceAddr: '2001:db8::7', sourcePort: 1, destAddr: '::ffff:10.0.0.1', destPort: 65535 });
});

test('v1 UNKNOWN is accepted without addresses', () => {
  const r = done(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')));
  assert.equal(r.consumed, 15);
  assert.equal(r.addresses, undefined);
  assert.equal(done(parseProxyHeader(Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n'))).addresses, undefined);
});

test('v1 garbage, bad fields and an oversized line are refused', () => {
  refused(parseProxyHeader(Buffer.from('GET / HTTP/1.1\r\n')), /no PROXY protocol header/);
  refused(parseProxyHeader(Buffer.from('PROXX')), /no PROXY protocol header/);
  refused(parseProxyHeader(Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 51234\r\n')), /6 fields/);
  refused(parseProxyHeader(Buffer.from('PROXY TCP4 203.0.113.256 10.0.0.1 1 2\r\n')), /bad IPv4/);
  refused(parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8:::7 ::1 1 2\r\n')), /bad IPv6/);
  refused(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n')), /bad port/);
  refused(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n')), /bad port/);
  refused(parseProxyHeader(Buffer.from('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n')), /unknown protocol/);
  refused(parseProxyHeader(Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`)), /longer than 107/);
  refused(parseProxyHeader(Buffer.from(`PROXY UNKNOWN ${'x'.repeat(100)}\r\n`)), /longer than 107/);
});

test('a truncated header asks for more, whatever byte it stops at', () => {
  const headers = [
    Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 51234 443\r\n'),
    v2(1, 0x11, tcp4()), v2(1, 0x21, tcp6()), v2(0, 0x00, Buffer.alloc(0)),
  ];
  for (const header of headers) {
    for (let n = 0; n < header.length; n++) assert.equal(parseProxyHeader(header.subarray(0, n)).state, 'more', `${n} of ${header.length}`);
    assert.equal(done(parseProxyHeader(header)).consumed, header.length);
  }
});

test('v2 PROXY over TCP4 and TCP6, TLVs skipped', () => {
  const tlv = Buffer.from([0x04, 0x00, 0x03, 0x61, 0x62, 0x63]);
  const r = done(parseProxyHeader(Buffer.concat([v2(1, 0x11, tcp4(), tlv), Buffer.from('rest')])));
  assert.equal(r.consumed, 16 + 12 + tlv.length);
  assert.deepEqual(r.addresses, { sourceAddr: '203.0.113.7', sourcePort: 51234, destAddr: '10.0.0.1', destPort: 443 });
  const r6 = done(parseProxyHeader(v2(1, 0x21, tcp6())));
  assert.deepEqual(r6.addresses, { sourceAddr: '2001:db8::7', sourcePort: 40000, destAddr: '2001:db8:0:1::', destPort: 8443 });
});

test('v2 LOCAL and UNSPEC carry no address; UDP, UNIX, bad versions and short blocks are refused', () => {
  assert.equal(done(parseProxyHeader(v2(0, 0x11, tcp4()))).addresses, undefined);
  assert.equal(done(parseProxyHeader(v2(1, 0x00, Buffer.alloc(0)))).addresses, undefined);
  refused(parseProxyHeader(v2(1, 0x12, tcp4())), /not TCP/);
  refused(parseProxyHeader(v2(1, 0x31, Buffer.alloc(216))), /not TCP/);
  refused(parseProxyHeader(v2(1, 0x11, Buffer.alloc(8))), /shorter than 12/);
  refused(parseProxyHeader(v2(1, 0x21, tcp4())), /shorter than 36/);
  refused(parseProxyHeader(v2(2, 0x11, tcp4())), /unknown command/);
  const v1Version = v2(1, 0x11, tcp4());
  v1Version[12] = 0x11;
  refused(parseProxyHeader(v1Version), /unknown version/);
});

test('v2 longer than the bound is refused from its length field, before it is read', () => {
  const head = v2(1, 0x11, Buffer.alloc(0)).subarray(0, 16);
  head.writeUInt16BE(V2_MAX - 16 + 1, 14);
  refused(parseProxyHeader(head), /longer than/);
  head.writeUInt16BE(V2_MAX - 16, 14);
  assert.equal(parseProxyHeader(head).state, 'more');
});

/** A socket pair over loopback: the server side goes through readProxyHeader. */
async function throughSocket(chunks: Buffer[], timeoutMs = 2_000): Promise<{ addresses: unknown; rest: string } | 'closed'> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => {
      socket.on('close', () => resolve('closed'));
      readProxyHeader(socket, timeoutMs, (addresses) => {
        assert.deepEqual(proxyAddressesOf(socket), addresses);
        let rest = '';
        socket.on('data', (d: Buffer) => { rest += d.toString(); if (rest.endsWith('!')) { resolve({ addresses, rest }); socket.destroy(); } });
        socket.resume();
      });
    });
    server.listen(0, '127.0.0.1', async () => {
      server.unref();
      const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
      client.on('error', reject);
      client.on('close', () => server.close());
      for (const c of chunks) {
        client.write(c);
        await new Promise((r) => setTimeout(r, 20));
      }
    });
  });
}

test('readProxyHeader: a header split across reads, then the bytes after it', async () => {
  const header = Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 51234 443\r\n');
  const got = await throughSocket([header.subarray(0, 3), header.subarray(3, 20), Buffer.concat([header.subarray(20), Buffer.from('GET')]), Buffer.from(' /!')]);
  assert.deepEqual(got, { addresses: { sourceAddr: '203.0.113.7', sourcePort: 51234, destAddr: '10.0.0.1', destPort: 443 }, rest: 'GET /!' });
  const got2 = await throughSocket([Buffer.concat([v2(1, 0x11, tcp4()), Buffer.from('hello!')])]);
  assert.equal((got2 as { rest: string }).rest, 'hello!');
});

test('readProxyHeader: garbage, or no header within the timeout, closes the socket', async () => {
  assert.equal(await throughSocket([Buffer.from('GET / HTTP/1.1\r\n\r\n')]), 'closed');
  const started = Date.now();
  assert.equal(await throughSocket([Buffer.from('PROXY TCP4 ')], 150), 'closed');
  assert.ok(Date.now() - started < 1_500);
});
