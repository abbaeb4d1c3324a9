import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { request } from 'undici';
import WebSocket from 'ws';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';

let gw: Gateway;
let a: TestUpstream;
let refusing: http.Server;

before(async () => {
  a = await startUpstream('a');
  const upstream = { nodes: { [`127.0.0.1:${a.port}`]: 1 } };
  // an upstream that refuses every upgrade with an ordinary answer
  refusing = http.createServer((_req, res) => res.end('plain'));
  refusing.on('upgrade', (_req, socket) => {
    socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nX-Reason: no-token\r\nSet-Cookie: a=1\r\n' +
      'Set-Cookie: b=2\r\nContent-Length: 17\r\n\r\nmissing the token');
  });
  await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
  const refusingUpstream = { nodes: { [`127.0.0.1:${(refusing.address() as { port: number }).port}`]: 1 } };
  gw = await startGateway({
    config: {
      routes: [
        { id: 'ws', uri: '/ws', enable_websocket: true, upstream },
        { id: 'ws-refused', uri: '/ws-refused', enable_websocket: true, upstream: refusingUpstream },
        {
          id: 'ws-refused-plugins', uri: '/ws-refused-plugins', enable_websocket: true, upstream: refusingUpstream,
          plugins: { 'response-rewrite': { headers: { set: { 'x-rewritten': 'yes' } } } },
        },
        { id: 'nows', uri: '/nows', upstream },
        { id: 'all', uri: '/*', upstream },
      ],
    },
  });
});

after(async () => {
  await gw.stop();
  await a.close();
  refusing.closeAllConnections();
  await new Promise((r) => refusing.close(r));
});

test('a 10 MiB response streams through intact', async () => {
  const res = await request(gw.url + '/stream?mb=10');
  let n = 0;
  for await (const chunk of res.body) n += (chunk as Buffer).length;
  assert.equal(res.statusCode, 200);
  assert.equal(n, 10 * 1024 * 1024);
});

test('a 10 MiB upload streams through intact', async () => {
  const body = Buffer.alloc(10 * 1024 * 1024, 7);
  const res = await request(gw.url + '/sink', { method: 'POST', body });
  assert.deepEqual(await res.body.json(), { received: body.length });
});

test('a client that stops reading holds back the upstream instead of filling the gateway memory', async () => {
  // Read a little, then stop: with backpressure end to end the upstream can only get
  // socket buffers' worth ahead, far less than the 64 MiB it wants to send.
  const received = await new Promise<number>((resolve, reject) => {
    const req = http.get(`${gw.url}/stream?mb=64`, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => {
        n += c.length;
        if (n > 256 * 1024) res.pause();
      });
      setTimeout(() => { req.destroy(); resolve(n); }, 1500);
    });
    req.on('error', (e) => { if ((e as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(e); });
  });
  assert.ok(received < 64 * 1024 * 1024);
  // Without backpressure the upstream would have pushed all 64 MiB in well under a second.
  assert.ok(a.streamed < 24 * 1024 * 1024, `upstream got ${a.streamed} bytes ahead of a paused client`);
  const seen = a.seen.filter((s) => s.url === '/stream?mb=64').length;
  assert.equal(seen, 1);
  // The gateway is still healthy and the aborted upstream request did not leak:
  const again = await request(gw.url + '/hello');
  assert.equal(again.statusCode, 200);
  await again.body.dump();
});

test('a WebSocket upgrade is proxied and messages echo both ways', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${gw.httpPort}/ws`);
  const reply = await new Promise<string>((resolve, reject) => {
    ws.on('open', () => ws.send('ping'));
    ws.on('message', (d) => resolve(d.toString()));
    ws.on('error', reject);
  });
  assert.equal(reply, 'a: ping');
  ws.close();
});

test('a WebSocket upgrade on a route without enable_websocket is refused with 400', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${gw.httpPort}/nows`);
  const status = await new Promise<number>((resolve) => {
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('error', () => resolve(-1));
  });
  assert.equal(status, 400);
});

test('a client that disconnects aborts the upstream request', async () => {
  const before = a.aborted;
  const ctl = new AbortController();
  const pending = request(gw.url + '/slow?ms=3000', { signal: ctl.signal }).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 300));
  ctl.abort();
  await pending;
  for (let i = 0; i < 50 && a.aborted === before; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(a.aborted, before + 1);
});

test('an upgrade the upstream refuses reaches the client as the upstream answered it (as nginx), through the response phases', async () => {
  for (const path of ['/ws-refused', '/ws-refused-plugins']) {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.httpPort}${path}`);
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      ws.on('unexpected-response', (_req, r) => resolve(r));
      ws.on('error', reject);
    });
    let body = '';
    for await (const chunk of res) body += chunk;
    assert.equal(res.statusCode, 403, path);
    assert.equal(body, 'missing the token', path);
    assert.equal(res.headers['x-reason'], 'no-token', path);
    assert.deepEqual(res.headers['set-cookie'], ['a=1', 'b=2'], path);
    assert.equal(res.headers['content-length'], '17', path);
    assert.equal(res.headers['x-rewritten'], path === '/ws-refused-plugins' ? 'yes' : undefined, path);
  }
});
