import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2, { type ClientHttp2Session } from 'node:http2';
import { join } from 'node:path';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { makeCert, type TestCert } from '../../helpers/certs.js';
import { logEntry } from '../../helpers/observe.js';
import { connectH2c, h2Request } from '../../helpers/h2.js';

// Every HTTP/2 stream is a request through the same lifecycle and plugins as HTTP/1.1:
// h2c by prior knowledge on the plain listener, h2 by ALPN on the TLS one.

let gw: Gateway;
let up: TestUpstream;
let cert: TestCert;
let h2c: ClientHttp2Session;
let h2: ClientHttp2Session;

before(async () => {
  up = await startUpstream('h2-up');
  cert = makeCert(['h2.test']);
  const upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
  gw = await startGateway({
    tls: true,
    extra: { log_dir: '.' },
    node: { client: { max_body_size: 4 * 1024 * 1024 } },
    config: {
      consumers: [{ username: 'jack', plugins: { 'key-auth': { key: 'k1' } } }],
      routes: [
        { id: 'guarded', uri: '/guarded', plugins: { 'key-auth': {} }, upstream },
        { id: 'limited', uri: '/limited', plugins: { 'limit-count': { count: 1, time_window: 60, rejected_code: 429 } }, upstream },
        {
          id: 'rewrite', uri: '/rewrite', upstream, plugins: {
            'proxy-rewrite': { uri: '/rewritten', headers: { set: { 'x-added': 'yes' } } },
            'response-rewrite': { headers: { set: { 'x-resp': 'rr' } } },
          },
        },
        {
          id: 'logged', uri: '/logged/*', upstream,
          plugins: { 'file-logger': { path: 'h2-access.log', log_format: { uri: '$request_uri', proto: '$server_protocol', status: '$status', host: '$host' } } },
        },
        { id: 'plain', uri: '/*', upstream },
      ],
      ssls: [{ id: 's', snis: ['h2.test'], cert: cert.cert, key: cert.key }],
    },
  });
  h2c = connectH2c(gw.httpPort);
  h2 = http2.connect(`https://127.0.0.1:${gw.httpsPort!}`, { servername: 'h2.test', ca: cert.cert, checkServerIdentity: () => undefined });
  h2.on('error', () => undefined);
});

after(async () => {
  h2c?.close();
  h2?.close();
  await gw.stop();
  await up.close();
});

const echo = (a: { body: Buffer }): { method: string; url: string; headers: Record<string, string>; body: string } => JSON.parse(a.body.toString());

test('h2c (prior knowledge) and h2 (ALPN) reach the upstream, authority as Host', async () => {
  for (const session of [h2c, h2]) {
    const a = await h2Request(session, { ':path': '/hello?x=1', ':authority': 'h2.test' });
    assert.equal(a.status, 200);
    const e = echo(a);
    assert.equal(e.url, '/hello?x=1');
    assert.equal(e.headers.host, 'h2.test');
    assert.equal(a.headers['x-upstream'], 'h2-up');
    // connection-specific fields of the HTTP/1.1 leg never reach an HTTP/2 client
    assert.equal(a.headers.connection, undefined);
    assert.equal(a.headers['transfer-encoding'], undefined);
  }
  assert.equal(h2.alpnProtocol, 'h2');
});

test('POST bodies stream both ways, a 3 MiB one with backpressure', async () => {
  const small = await h2Request(h2c, { ':method': 'POST', ':path': '/post', 'content-type': 'text/plain' }, 'hello h2');
  assert.equal(echo(small).body, 'hello h2');
  assert.equal(echo(small).method, 'POST');
  const big = Buffer.alloc(3 * 1024 * 1024, 120);
  for (const session of [h2c, h2]) {
    const sunk = await h2Request(session, { ':method': 'POST', ':path': '/sink' }, big, 20_000);
    assert.deepEqual(JSON.parse(sunk.body.toString()), { received: big.length });
    const down = await h2Request(session, { ':path': '/bytes/2097152' }, undefined, 20_000);
    assert.equal(down.body.length, 2097152);
    assert.equal(down.headers['content-length'], '2097152');
  }
});

test('a body over max_body_size is refused with 413', async () => {
  const a = await h2Request(h2c, { ':method': 'POST', ':path': '/sink' }, Buffer.alloc(5 * 1024 * 1024, 1), 20_000).catch((err: Error) => err);
  // the answer may arrive before the client finished sending (then the stream is reset after it)
  if (!(a instanceof Error)) assert.equal(a.status, 413);
  const after = await h2Request(h2c, { ':path': '/still-serving' });
  assert.equal(after.status, 200);
});

test('100 concurrent streams on one session', async () => {
  const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => h2Request(h2, { ':path': `/c/${i}` })));
  answers.forEach((a, i) => {
    assert.equal(a.status, 200);
    assert.equal(echo(a).url, `/c/${i}`);
  });
});

test('plugins run: key-auth 401, limit-count 429, proxy-rewrite and response-rewrite', async () => {
  assert.equal((await h2Request(h2c, { ':path': '/guarded' })).status, 401);
  assert.equal((await h2Request(h2, { ':path': '/guarded', apikey: 'k1' })).status, 200);
  assert.equal((await h2Request(h2c, { ':path': '/limited' })).status, 200);
  const limited = await h2Request(h2c, { ':path': '/limited' });
  assert.equal(limited.status, 429);
  const r = await h2Request(h2, { ':path': '/rewrite' });
  assert.equal(echo(r).url, '/rewritten');
  assert.equal(echo(r).headers['x-added'], 'yes');
  assert.equal(r.headers['x-resp'], 'rr');
});

test('the access log says HTTP/2.0 ($server_protocol) and HEAD/204 answers carry no body', async () => {
  await h2Request(h2c, { ':path': '/logged/one', ':authority': 'h2.test' });
  const entry = await logEntry(join(gw.dir, 'h2-access.log'), 'uri', '/logged/one');
  assert.equal(entry.proto, 'HTTP/2.0');
  assert.equal(entry.status, 200);
  assert.equal(entry.host, 'h2.test');
  const head = await h2Request(h2c, { ':method': 'HEAD', ':path': '/bytes/10' });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  const noContent = await h2Request(h2, { ':path': '/status/204' });
  assert.equal(noContent.status, 204);
  assert.equal(noContent.body.length, 0);
});

test('errors keep their statuses: a broken upstream answer is 502, an upstream 404 passes', async () => {
  const bad = await h2Request(h2c, { ':path': '/close' });
  assert.equal(bad.status, 502);
  const missing = await h2Request(h2c, { ':path': '/status/404' });
  assert.equal(missing.status, 404);
});

test('Connection and Upgrade fields are refused on HTTP/2 (RFC 9113 §8.2.2); CONNECT is 501', async () => {
  const raw = http2.connect(`http://127.0.0.1:${gw.httpPort}`);
  raw.on('error', () => undefined);
  // node refuses to send connection-specific fields itself: a stream with one is malformed for any peer
  assert.throws(() => raw.request({ ':path': '/', connection: 'upgrade', upgrade: 'websocket' }), { code: 'ERR_HTTP2_INVALID_CONNECTION_HEADERS' });
  const connect = await h2Request(raw, { ':method': 'CONNECT', ':authority': 'example.com:443' }, '');
  assert.equal(connect.status, 501);
  raw.close();
});
