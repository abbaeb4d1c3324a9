import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

// Who is to blame for a failure decides whether a node's health suffers: only failures
// the upstream caused count toward passive checks. And when every node is marked down,
// all of them are tried (APISIX's fallback) instead of answering 503.

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

async function upstreams(...names: string[]): Promise<TestUpstream[]> {
  const ups = await Promise.all(names.map((n) => startUpstream(n)));
  for (const u of ups) cleanups.push(() => u.close());
  return ups;
}

async function gateway(config: Record<string, unknown>): Promise<Gateway> {
  const gw = await startGateway({ config });
  cleanups.push(() => gw.stop());
  return gw;
}

async function count(url: string, n: number): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await get(url);
    const who = r.status === 200 ? String(r.json().upstream) : `status ${r.status}`;
    seen[who] = (seen[who] ?? 0) + 1;
  }
  return seen;
}

/**
 * Sends `head` and `body` on a raw socket and resolves with the response head as soon as it
 * arrives (the gateway may keep reading a body it no longer needs before it closes). The
 * body is written until the socket's buffers are full, then the client waits, its side open.
 */
function postAndStall(port: number, head: string, body: number, teardown: (s: net.Socket) => void): Promise<string> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    teardown(sock);
    let out = '';
    const done = (): void => { resolve(out); sock.destroy(); };
    sock.on('error', done);
    sock.on('close', done);
    sock.on('data', (c) => {
      out += c.toString('latin1');
      if (out.includes('\r\n\r\n')) done();
    });
    sock.write(head);
    const chunk = Buffer.alloc(Math.min(body, 64 * 1024), 120);
    let sent = 0;
    const pump = (): void => {
      while (sent < body) {
        sent += chunk.length;
        if (!sock.write(chunk)) { sock.once('drain', pump); return; }
      }
    };
    pump();
  });
}

const sockets: net.Socket[] = [];
cleanups.push(() => { for (const s of sockets) s.destroy(); });

// Active checks are required beside passive ones (APISIX's schema); these probe too rarely to matter.
const RARE_ACTIVE = { http_path: '/health', healthy: { interval: 60 }, unhealthy: { interval: 60 } };

test('a client that stalls its upload gets a 408 and leaves the nodes healthy', async () => {
  const [a, b] = await upstreams('a', 'b');
  const gw = await gateway({
    routes: [{ id: 'r', uri: '/*', upstream: {
      type: 'roundrobin', retries: 0, timeout: { connect: 1, send: 1, read: 5 },
      nodes: { [`127.0.0.1:${a!.port}`]: 1, [`127.0.0.1:${b!.port}`]: 1 },
      checks: { active: RARE_ACTIVE, passive: { unhealthy: { timeouts: 1, tcp_failures: 1, http_failures: 1 } } },
    } }],
  });
  for (let i = 0; i < 3; i++) {
    // announces 1000 bytes, sends 10, then waits
    const out = await postAndStall(gw.httpPort, 'POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n', 10, (s) => sockets.push(s));
    assert.match(out, /^HTTP\/1\.1 408 /, out);
  }
  assert.doesNotMatch(gw.output(), /marked unhealthy/);
  assert.doesNotMatch(gw.output(), /every upstream node is unhealthy/);
  assert.deepEqual(await count(gw.url + '/x', 10), { a: 5, b: 5 });
});

test('a WebSocket client that leaves before the upgrade is answered does not count against the node', async () => {
  // accepts the handshake request and never answers it
  const held: net.Socket[] = [];
  const silent = net.createServer((s) => { held.push(s); s.on('error', () => undefined); });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  cleanups.push(() => { for (const s of held) s.destroy(); silent.close(); });
  const gw = await gateway({
    routes: [{ id: 'ws', uri: '/ws', enable_websocket: true, upstream: {
      retries: 0, nodes: { [`127.0.0.1:${(silent.address() as net.AddressInfo).port}`]: 1 },
      checks: { active: RARE_ACTIVE, passive: { unhealthy: { tcp_failures: 1, timeouts: 1, http_failures: 1 } } },
    } }],
  });
  for (let i = 0; i < 3; i++) {
    const heldBefore = held.length;
    const sock = net.connect(gw.httpPort, '127.0.0.1');
    sock.on('error', () => undefined);
    sock.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
      + 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    // waits until the handshake reached the upstream, then hangs up hard (RST: an error on the gateway's side)
    for (let t = 0; t < 200 && held.length === heldBefore; t++) await new Promise((r) => setTimeout(r, 10));
    sock.resetAndDestroy();
  }
  await new Promise((r) => setTimeout(r, 300));
  assert.doesNotMatch(gw.output(), /marked unhealthy/);
});

test('an upstream that stops reading the upload is a 504 that counts against it', async () => {
  // accepts and never reads: the upload fills the socket buffers and stops
  const held: net.Socket[] = [];
  const sink = net.createServer((s) => { held.push(s); s.pause(); s.on('error', () => undefined); });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  cleanups.push(() => { for (const s of held) s.destroy(); sink.close(); });
  const port = (sink.address() as net.AddressInfo).port;
  const gw = await gateway({
    routes: [{ id: 'r', uri: '/*', upstream: {
      retries: 0, timeout: { connect: 1, send: 1, read: 30 },
      nodes: { [`127.0.0.1:${port}`]: 1 },
      checks: { active: RARE_ACTIVE, passive: { unhealthy: { timeouts: 1 } } },
    } }],
  });
  const status = await postAndStall(gw.httpPort, `POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: ${64 * 1024 * 1024}\r\n\r\n`,
    64 * 1024 * 1024, (s) => sockets.push(s));
  assert.match(status, /^HTTP\/1\.1 504 /, status);
  assert.match(status, /upstream send timed out/);
  await gw.waitForOutput(/marked unhealthy.*timeouts|timeouts.*marked unhealthy/);
});

test('when active checks mark every node down while they still answer, requests are tried anyway', async () => {
  const [a, b] = await upstreams('a', 'b');
  a!.healthStatus = 500;
  b!.healthStatus = 500;
  const gw = await gateway({
    routes: [{ id: 'r', uri: '/*', upstream: {
      nodes: { [`127.0.0.1:${a!.port}`]: 1, [`127.0.0.1:${b!.port}`]: 1 },
      checks: { active: { http_path: '/health', healthy: { interval: 1, successes: 1 }, unhealthy: { interval: 1, http_failures: 1 } } },
    } }],
  });
  await gw.waitForOutput(/every upstream node is unhealthy; trying all of them/);
  const r = await get(gw.url + '/x');
  assert.equal(r.status, 200);
  assert.deepEqual(await count(gw.url + '/x', 4), { a: 2, b: 2 });
});
