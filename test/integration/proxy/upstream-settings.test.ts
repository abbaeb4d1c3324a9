import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { get } from '../../helpers/http.js';

// Upstream fields with an effect that only shows on the wire: `keepalive_pool` (how the
// gateway reuses its upstream connections) and `retry_timeout` (how long retries may go on).

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

/** An upstream that records the client port of the connection each request came on, and counts open connections. */
async function portEcho(answerAfterMs = 0): Promise<{ port: number; ports: number[]; open: () => number }> {
  const ports: number[] = [];
  let open = 0;
  const server = http.createServer((req, res) => {
    ports.push(req.socket.remotePort!);
    setTimeout(() => res.end('ok'), answerAfterMs);
  });
  server.on('connection', (socket: net.Socket) => { open++; socket.on('close', () => open--); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { port: (server.address() as net.AddressInfo).port, ports, open: () => open };
}

async function gateway(config: Record<string, unknown>): Promise<Gateway> {
  const gw = await startGateway({ config });
  cleanups.push(() => gw.stop());
  return gw;
}

test('keepalive_pool: requests caps the requests per connection; size is the idle connections kept (nginx keepalive)', async () => {
  const capped = await portEcho();
  const single = await portEcho(50);
  const noReuse = await portEcho();
  const gw = await gateway({
    routes: [
      { id: 'capped', uri: '/capped', upstream: { nodes: { [`127.0.0.1:${capped.port}`]: 1 }, keepalive_pool: { requests: 2 } } },
      { id: 'single', uri: '/single', upstream: { nodes: { [`127.0.0.1:${single.port}`]: 1 }, keepalive_pool: { size: 1 } } },
      { id: 'no-reuse', uri: '/no-reuse', upstream: { nodes: { [`127.0.0.1:${noReuse.port}`]: 1 }, keepalive_pool: { requests: 1 } } },
    ],
  });
  for (let i = 0; i < 6; i++) assert.equal((await get(gw.url + '/capped')).status, 200);
  assert.equal(new Set(capped.ports).size, 3, `connections used: ${capped.ports.join(' ')}`);
  for (let i = 0; i < 3; i++) assert.equal((await get(gw.url + '/no-reuse')).status, 200);
  assert.equal(new Set(noReuse.ports).size, 3, `connections used: ${noReuse.ports.join(' ')}`);
  // a burst is not queued behind one connection: it opens what it needs, and one stays afterwards
  const all = await Promise.all(Array.from({ length: 8 }, () => get(gw.url + '/single')));
  for (const r of all) assert.equal(r.status, 200);
  assert.equal(new Set(single.ports).size, 8, `connections used: ${single.ports.join(' ')}`);
  await eventually(() => single.open() === 1, 40, 50);
  single.ports.length = 0;
  for (let i = 0; i < 3; i++) assert.equal((await get(gw.url + '/single')).status, 200);
  assert.equal(new Set(single.ports).size, 1, `the kept connection serves what follows: ${single.ports.join(' ')}`);
  assert.equal(single.open(), 1);
});

test('keepalive_pool.idle_timeout closes an idle upstream connection', async () => {
  const echo = await portEcho();
  const gw = await gateway({
    routes: [{ id: 'r', uri: '/*', upstream: { nodes: { [`127.0.0.1:${echo.port}`]: 1 }, keepalive_pool: { idle_timeout: 0.2 } } }],
  });
  await get(gw.url + '/a');
  await get(gw.url + '/b');
  assert.equal(new Set(echo.ports).size, 1, 'back-to-back requests share the connection');
  await new Promise((r) => setTimeout(r, 1000));
  await get(gw.url + '/c');
  assert.equal(new Set(echo.ports).size, 2, 'the idle connection was closed and a new one opened');
});

test('retry_timeout stops retrying once it has passed', async () => {
  // three nodes that accept and never answer: each attempt ends with the read timeout
  const held: net.Socket[] = [];
  const accepted: number[] = [0, 0, 0];
  const servers = await Promise.all([0, 1, 2].map(async (i) => {
    const s = net.createServer((sock) => { accepted[i]!++; held.push(sock); sock.on('error', () => undefined); });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return s;
  }));
  cleanups.push(() => { for (const s of held) s.destroy(); for (const s of servers) s.close(); });
  const nodes = Object.fromEntries(servers.map((s) => [`127.0.0.1:${(s.address() as net.AddressInfo).port}`, 1]));
  const gw = await gateway({
    routes: [
      { id: 'bounded', uri: '/bounded', upstream: { nodes, retries: 2, retry_timeout: 3, timeout: { connect: 1, send: 1, read: 2 } } },
    ],
  });
  const r = await get(gw.url + '/bounded');
  assert.equal(r.status, 504);
  // retries: 2 would allow three attempts; the first ends at about 2 s (inside the 3 s budget: retried),
  // the second at about 4 s, past it: no third. (undici's timers tick every ~0.5 s, hence the wide margins.)
  assert.equal(accepted.reduce((a, b) => a + b, 0), 2);
});
