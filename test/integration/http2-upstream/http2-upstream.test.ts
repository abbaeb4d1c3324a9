import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { connectH2c, h2Request } from '../../helpers/h2.js';
import { rawRequest } from '../../helpers/http.js';
import { startH2cUpstream, type H2cUpstream } from '../../helpers/h2c-upstream.js';

// `scheme: http2` upstreams (plain HTTP/2, h2c by prior knowledge) behind the real gateway,
// from HTTP/1.1 and h2c clients: ordinary HTTP semantics over the HTTP/2 upstream leg.

let gw: Gateway;
let up: H2cUpstream;
let goaway: H2cUpstream;
let downPort: number;
const MIB = randomBytes(1024 * 1024);
const MIB_SHA = createHash('sha256').update(MIB).digest('hex');

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** 1 MiB in 64 KiB pieces, so the body is streamed (chunked from an HTTP/1.1 client). */
function streamedMiB(): Readable {
  let at = 0;
  return new Readable({
    read() {
      this.push(at < MIB.length ? MIB.subarray(at, at += 65536) : null);
    },
  });
}

function url(path: string): string {
  return `http://127.0.0.1:${gw.httpPort}${path}`;
}

before(async () => {
  up = await startH2cUpstream();
  goaway = await startH2cUpstream();
  downPort = await freePort();
  const h2 = (port: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ scheme: 'http2', nodes: { [`127.0.0.1:${port}`]: 1 }, ...extra });
  gw = await startGateway({
    config: {
      routes: [
        { id: 'plain', uri: '/*', host: 'h2up.test', upstream: h2(up.port) },
        {
          id: 'plugins', uri: '/*', host: 'plugins.test', upstream: h2(up.port),
          plugins: {
            'proxy-rewrite': { uri: '/info', headers: { set: { 'x-added': 'by-proxy-rewrite' } } },
            'response-rewrite': { headers: { set: { 'x-rewritten': 'yes' } } },
          },
        },
        { id: 'node-host', uri: '/*', host: 'node-host.test', upstream: h2(up.port, { pass_host: 'node' }) },
        { id: 'down', uri: '/*', host: 'down.test', upstream: h2(downPort, { retries: 0 }) },
        { id: 'slow', uri: '/*', host: 'slow.test', upstream: h2(up.port, { timeout: { connect: 1, send: 1, read: 0.3 } }) },
        { id: 'goaway', uri: '/*', host: 'goaway.test', upstream: h2(goaway.port) },
        { id: 'send', uri: '/*', host: 'send.test', upstream: h2(up.port, { timeout: { connect: 1, send: 0.3, read: 5 } }) },
        { id: 'ws', uri: '/*', host: 'ws.test', enable_websocket: true, upstream: h2(up.port) },
      ],
    },
  });
});

after(async () => {
  await gw?.stop();
  await up?.close();
  await goaway?.close();
});

test('HTTP/1.1 client: GET over HTTP/2 upstream, Host as :authority, headers both ways, no 426', async () => {
  const res = await request(url('/info?a=1'), { headers: { host: 'h2up.test', 'x-client': 'one' } });
  assert.equal(res.statusCode, 200);
  const info = await res.body.json() as { method: string; path: string; authority: string; scheme: string; headers: Record<string, string> };
  assert.equal(info.method, 'GET');
  assert.equal(info.path, '/info?a=1');
  assert.equal(info.authority, 'h2up.test');
  assert.equal(info.scheme, 'http');
  assert.equal(info.headers['x-client'], 'one');
  assert.equal(info.headers['x-forwarded-for'], '127.0.0.1');
  assert.equal(info.headers.host, undefined);
  assert.equal(res.headers['x-up'], 'h2');
  // the upstream's Server gives way to the gateway's
  assert.notEqual(res.headers.server, 'h2c-upstream');
});

test('HTTP/1.1 client: 1 MiB POST streamed both ways, the upstream\'s trailers not passed', async () => {
  const res = await request(url('/echo'), { method: 'POST', headers: { host: 'h2up.test' }, body: streamedMiB() });
  assert.equal(res.statusCode, 200);
  const body = Buffer.from(await res.body.arrayBuffer());
  assert.equal(body.length, MIB.length);
  assert.equal(createHash('sha256').update(body).digest('hex'), MIB_SHA);
  assert.deepEqual(res.trailers, {});
  assert.equal(res.headers.trailer, undefined);
});

test('h2c client: GET and a 1 MiB POST, the upstream\'s trailers passed through', async () => {
  const session = connectH2c(gw.httpPort);
  try {
    const got = await h2Request(session, { ':path': '/info', ':authority': 'h2up.test', 'x-client': 'h2' });
    assert.equal(got.status, 200);
    const info = JSON.parse(got.body.toString()) as { authority: string; headers: Record<string, string> };
    assert.equal(info.authority, 'h2up.test');
    assert.equal(info.headers['x-client'], 'h2');
    assert.equal(got.headers['x-up'], 'h2');

    const posted = await new Promise<{ status: number; body: Buffer; trailers: Record<string, unknown> }>((resolve, reject) => {
      const stream = session.request({ ':method': 'POST', ':path': '/echo', ':authority': 'h2up.test' });
      const timer = setTimeout(() => reject(new Error('no answer in 10 s')), 10_000);
      const chunks: Buffer[] = [];
      let status = 0;
      let trailers: Record<string, unknown> = {};
      stream.on('response', (h) => { status = Number(h[':status']); });
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('trailers', (t) => { trailers = t; });
      stream.on('end', () => { clearTimeout(timer); resolve({ status, body: Buffer.concat(chunks), trailers }); });
      stream.on('error', reject);
      streamedMiB().pipe(stream);
    });
    assert.equal(posted.status, 200);
    assert.equal(createHash('sha256').update(posted.body).digest('hex'), MIB_SHA);
    assert.equal(posted.trailers['x-trailer'], 'yes');
    assert.equal(posted.trailers['x-sha256'], MIB_SHA);
  } finally {
    session.close();
  }
});

test('plugins on the route: proxy-rewrite on the request, response-rewrite on the response', async () => {
  const res = await request(url('/anything'), { headers: { host: 'plugins.test' } });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['x-rewritten'], 'yes');
  const info = await res.body.json() as { path: string; headers: Record<string, string> };
  assert.equal(info.path, '/info');
  assert.equal(info.headers['x-added'], 'by-proxy-rewrite');
});

test('pass_host node: :authority is the node', async () => {
  const res = await request(url('/info'), { headers: { host: 'node-host.test' } });
  assert.equal((await res.body.json() as { authority: string }).authority, `127.0.0.1:${up.port}`);
});

test('hop-by-hop and connection-specific fields from an HTTP/1.1 client are not forwarded', async () => {
  const raw = await rawRequest(gw.httpPort, [
    'POST /info HTTP/1.1', 'Host: h2up.test', 'Connection: close, x-hop', 'X-Hop: 1', 'Keep-Alive: timeout=5',
    'Proxy-Connection: keep-alive', 'TE: trailers', 'Transfer-Encoding: chunked', 'X-Kept: 1', '', '3', 'abc', '0', '', '',
  ].join('\r\n'));
  assert.match(raw, /^HTTP\/1\.1 200/);
  const info = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { method: string; headers: Record<string, string> };
  assert.equal(info.method, 'POST');
  assert.equal(info.headers['x-kept'], '1');
  for (const name of ['connection', 'x-hop', 'keep-alive', 'proxy-connection', 'te', 'transfer-encoding']) {
    assert.equal(info.headers[name], undefined, `${name} was forwarded`);
  }
});

test('an upstream that is down: the ordinary 502, for HTTP/1.1 and HTTP/2 clients (gRPC ones too)', async () => {
  const res = await request(url('/info'), { headers: { host: 'down.test' } });
  assert.equal(res.statusCode, 502);
  assert.match((await res.body.json() as { error_msg: string }).error_msg, /refused/);
  const session = connectH2c(gw.httpPort);
  try {
    const got = await h2Request(session, { ':path': '/info', ':authority': 'down.test' });
    assert.equal(got.status, 502);
    // no trailers-only gRPC answer on a plain HTTP/2 route
    const grpc = await h2Request(session, { ':method': 'POST', ':path': '/x.Y/Z', ':authority': 'down.test', 'content-type': 'application/grpc' }, Buffer.alloc(5));
    assert.equal(grpc.status, 502);
    assert.equal(grpc.headers['grpc-status'], undefined);
  } finally {
    session.close();
  }
});

test('read timeout: 504 once the upstream is silent for timeout.read', async () => {
  const started = Date.now();
  const res = await request(url('/slow'), { headers: { host: 'slow.test' } });
  assert.equal(res.statusCode, 504);
  await res.body.dump();
  assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
});

test('send timeout: an upstream that stops taking the body is a 504; a client that stops sending it a 408', async () => {
  // /slow reads nothing for 3 s: 1 MiB fills its flow-control window
  const started = Date.now();
  const res = await request(url('/slow'), { method: 'POST', headers: { host: 'send.test' }, body: Buffer.from(MIB) });
  assert.equal(res.statusCode, 504);
  assert.match((await res.body.json() as { error_msg: string }).error_msg, /send timed out/);
  assert.ok(Date.now() - started < 2500, `took ${Date.now() - started} ms`);
  // 10 of the 100 bytes announced, then nothing
  const raw = await rawRequest(gw.httpPort, 'POST /slow HTTP/1.1\r\nHost: send.test\r\nContent-Length: 100\r\n\r\n0123456789', 3000);
  assert.match(raw, /^HTTP\/1\.1 408/);
});

test('a session the upstream closed with GOAWAY is replaced by a new one', async () => {
  const before = goaway.sessions;
  for (let i = 0; i < 3; i++) {
    const res = await request(url('/goaway'), { headers: { host: 'goaway.test' } });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    assert.ok(await goaway.sessionsClosed(3000), 'the upstream closed its session');
  }
  assert.equal(goaway.sessions - before, 3);
});

test('a refused stream goes again (not processed); a streamed body is not resent', async () => {
  const before = up.flakyStreams;
  const res = await request(url('/flaky'), { headers: { host: 'h2up.test' } });
  assert.equal(res.statusCode, 200);
  await res.body.dump();
  assert.equal(up.flakyStreams - before, 2);
  // the next stream is refused: a body streamed from the client went once, so it is answered
  const posted = await request(url('/flaky'), { method: 'POST', headers: { host: 'h2up.test' }, body: streamedMiB() });
  assert.equal(posted.statusCode, 502);
  await posted.body.dump();
});

test('a WebSocket upgrade on a route to an HTTP/2 upstream is refused with 501, naming why', async () => {
  const raw = await rawRequest(gw.httpPort, [
    'GET /chat HTTP/1.1', 'Host: ws.test', 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', '', '',
  ].join('\r\n'), 3000);
  assert.match(raw, /^HTTP\/1\.1 501 /);
  assert.match(raw, /websocket to an HTTP\/2 \(grpc, grpcs, http2\) upstream is not supported/);
});
