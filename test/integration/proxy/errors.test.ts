import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get, rawRequest } from '../../helpers/http.js';

let gw: Gateway;
let a: TestUpstream;
let deadPort: number;
let blackhole: net.Server;
let blackholePort: number;
const held: net.Socket[] = [];

before(async () => {
  a = await startUpstream('a');
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  deadPort = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  // Accepts connections and never answers: read timeouts.
  blackhole = net.createServer((sock) => { held.push(sock); sock.on('error', () => undefined); });
  await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
  blackholePort = (blackhole.address() as net.AddressInfo).port;
  const node = { [`127.0.0.1:${a.port}`]: 1 };
  gw = await startGateway({
    node: { client: { max_header_size: 4096, max_body_size: 1024, header_timeout: 1, keepalive_timeout: 5, request_timeout: 0 } },
    config: {
      routes: [
        { id: 'ok', uri: '/*', upstream: { nodes: node } },
        { id: 'refused', uri: '/refused', upstream: { nodes: { [`127.0.0.1:${deadPort}`]: 1 }, retries: 0 } },
        { id: 'timeout', uri: '/timeout', upstream: { nodes: { [`127.0.0.1:${blackholePort}`]: 1 }, retries: 0, timeout: { connect: 1, send: 1, read: 0.3 } } },
        { id: 'reset', uri: '/close', upstream: { nodes: node, retries: 0 } },
        { id: 'garbage', uri: '/garbage', upstream: { nodes: node, retries: 0 } },
        { id: 'no-nodes', uri: '/nonodes', upstream: { nodes: {} } },
      ],
    },
  });
});

after(async () => {
  await gw.stop();
  await a.close();
  for (const s of held) s.destroy();
  blackhole.close();
});

test('a refused upstream connection is a 502 with a JSON error', async () => {
  const r = await get(gw.url + '/refused');
  assert.equal(r.status, 502);
  assert.deepEqual(r.json(), { error_msg: 'upstream connection refused' });
});

test('an upstream that resets the connection is a 502', async () => {
  const r = await get(gw.url + '/close');
  assert.equal(r.status, 502);
  assert.equal(r.json().error_msg, 'upstream connection reset');
});

test('an upstream that answers something that is not HTTP is a 502', async () => {
  const r = await get(gw.url + '/garbage');
  assert.equal(r.status, 502);
  assert.equal(r.json().error_msg, 'invalid response from upstream');
});

test('an upstream that does not answer in time is a 504', async () => {
  const r = await get(gw.url + '/timeout');
  assert.equal(r.status, 504);
  assert.equal(r.json().error_msg, 'upstream read timed out');
});

test('an upstream with no node to pick is a 503', async () => {
  const r = await get(gw.url + '/nonodes');
  assert.equal(r.status, 503);
  assert.equal(r.json().error_msg, 'no healthy upstream node');
});

test('a malformed path is a 400 with a JSON error', async () => {
  const out = await rawRequest(gw.httpPort, 'GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.match(out, /^HTTP\/1\.1 400 /);
  assert.match(out, /"error_msg":"invalid request path"/);
});

test('a header block over the limit is a 431 with a JSON error', async () => {
  const out = await rawRequest(gw.httpPort, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`);
  assert.match(out, /^HTTP\/1\.1 431 /);
  assert.match(out, /"error_msg"/);
});

test('a body over the limit is a 413, by Content-Length or while streaming', async () => {
  const r = await get(gw.url + '/sink', { method: 'POST', body: 'x'.repeat(2000) });
  assert.equal(r.status, 413);
  assert.equal(r.json().error_msg, 'Request Entity Too Large');
  const chunked = await rawRequest(gw.httpPort,
    'POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' + `7d0\r\n${'x'.repeat(2000)}\r\n0\r\n\r\n`);
  assert.match(chunked, /^HTTP\/1\.1 413 /);
  const small = await get(gw.url + '/sink', { method: 'POST', body: 'x'.repeat(500) });
  assert.deepEqual(small.json(), { received: 500 });
});

test('slow clients are cut off by the header timeout and do not starve others', async () => {
  const closed: Promise<boolean>[] = [];
  const slow: net.Socket[] = [];
  for (let i = 0; i < 200; i++) {
    const s = net.connect(gw.httpPort, '127.0.0.1');
    s.on('error', () => undefined);
    s.resume(); // read what the gateway sends, or its FIN is never seen
    closed.push(new Promise<boolean>((res) => {
      const t = setTimeout(() => res(false), 8000);
      s.on('close', () => { clearTimeout(t); res(true); });
    }));
    s.write('GET / HTTP/1.1\r\nHost: x\r\n'); // never finishes its headers
    slow.push(s);
  }
  const r = await get(gw.url + '/hello');
  assert.equal(r.status, 200);
  const results = await Promise.all(closed);
  for (const s of slow) s.destroy();
  assert.equal(results.filter(Boolean).length, slow.length);
});
