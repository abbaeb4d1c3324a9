import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, eventually, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import net from 'node:net';

const cleanups: (() => Promise<void>)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

async function upstreams(...names: string[]): Promise<TestUpstream[]> {
  const ups = await Promise.all(names.map((n) => startUpstream(n)));
  for (const u of ups) cleanups.push(() => u.close());
  return ups;
}

async function gateway(config: Record<string, unknown>, workers = 1): Promise<Gateway> {
  const gw = await startGateway({ config, workers });
  cleanups.push(() => gw.stop());
  return gw;
}

/** A port with nothing listening on it. */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function count(url: string, n: number, headers?: Record<string, string>): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await get(url, { headers });
    const who = r.status === 200 ? String(r.json().upstream) : `status ${r.status}`;
    seen[who] = (seen[who] ?? 0) + 1;
  }
  return seen;
}

test('weighted round robin sends traffic in proportion to the weights', async () => {
  const [a, b] = await upstreams('a', 'b');
  const gw = await gateway({
    routes: [{ id: 'r', uri: '/*', upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${a!.port}`]: 3, [`127.0.0.1:${b!.port}`]: 1 } } }],
  });
  assert.deepEqual(await count(gw.url + '/x', 40), { a: 30, b: 10 });
});

test('chash by header keeps a key on one node and spreads keys across nodes', async () => {
  const [a, b, c] = await upstreams('a', 'b', 'c');
  const gw = await gateway({
    routes: [{ id: 'r', uri: '/*', upstream: { type: 'chash', hash_on: 'header', key: 'x-user',
      nodes: { [`127.0.0.1:${a!.port}`]: 1, [`127.0.0.1:${b!.port}`]: 1, [`127.0.0.1:${c!.port}`]: 1 } } }],
  });
  const owners = new Set<string>();
  for (let u = 0; u < 30; u++) {
    const seen = await count(gw.url + '/x', 5, { 'x-user': `user-${u}` });
    assert.equal(Object.keys(seen).length, 1, `user-${u} moved between nodes: ${JSON.stringify(seen)}`);
    owners.add(Object.keys(seen)[0]!);
  }
  assert.ok(owners.size >= 2, 'keys should spread over several nodes');
});

test('chash requests without the key hash on the client address, with one warning, not one per request', async () => {
  const [a, b, c] = await upstreams('a', 'b', 'c');
  const nodes = { [`127.0.0.1:${a!.port}`]: 1, [`127.0.0.1:${b!.port}`]: 1, [`127.0.0.1:${c!.port}`]: 1 };
  const gw = await gateway({
    routes: [
      { id: 'by-header', uri: '/h', upstream: { type: 'chash', hash_on: 'header', key: 'x-user', nodes } },
      { id: 'by-addr', uri: '/a', upstream: { type: 'chash', hash_on: 'vars', key: 'remote_addr', nodes } },
    ],
  });
  const keyless = await count(gw.url + '/h', 20);
  assert.equal(Object.keys(keyless).length, 1);
  // the same ring and the same key (127.0.0.1) as the route that hashes on remote_addr
  assert.deepEqual(keyless, await count(gw.url + '/a', 20));
  const warnings = gw.output().match(/chash key missing from the request; hashing on remote_addr/g) ?? [];
  assert.equal(warnings.length, 1);
});

test('a failed connection is retried on the next node', async () => {
  const [a] = await upstreams('a');
  const dead = await deadPort();
  const gw = await gateway({
    routes: [{ id: 'r', uri: '/*', upstream: { type: 'roundrobin', retries: 1, nodes: { [`127.0.0.1:${dead}`]: 1, [`127.0.0.1:${a!.port}`]: 1 } } }],
  });
  assert.deepEqual(await count(gw.url + '/x', 10), { a: 10 });
});

test('active health checks take a failing node out and put it back when it recovers', async () => {
  const [a, b] = await upstreams('a', 'b');
  const gw = await gateway({
    routes: [{ id: 'r', uri: '/*', upstream: {
      type: 'roundrobin',
      nodes: { [`127.0.0.1:${a!.port}`]: 1, [`127.0.0.1:${b!.port}`]: 1 },
      checks: { active: { http_path: '/health', timeout: 1,
        healthy: { interval: 1, successes: 1 }, unhealthy: { interval: 1, http_failures: 1 } } },
    } }],
  });
  assert.deepEqual(await count(gw.url + '/x', 10), { a: 5, b: 5 });
  b!.healthStatus = 500;
  await eventually(async () => JSON.stringify(await count(gw.url + '/x', 6)) === JSON.stringify({ a: 6 }), 100, 100);
  b!.healthStatus = 200;
  await eventually(async () => (await count(gw.url + '/x', 6)).b === 3, 100, 100);
});

test('passive health checks take a node that keeps failing out of rotation', async () => {
  const [a, bad] = await upstreams('a', 'bad');
  bad!.failWith = 500;
  const gw = await gateway({
    routes: [{ id: 'r', uri: '/*', upstream: {
      type: 'roundrobin', retries: 0,
      nodes: { [`127.0.0.1:${a!.port}`]: 1, [`127.0.0.1:${bad!.port}`]: 1 },
      // APISIX requires active checks beside passive ones; these probe too rarely to matter here.
      checks: { active: { http_path: '/health', healthy: { interval: 60 }, unhealthy: { interval: 60 } },
        passive: { unhealthy: { http_statuses: [500], http_failures: 2 } } },
    } }],
  });
  const first = await count(gw.url + '/x', 4);
  assert.deepEqual(first, { a: 2, 'status 500': 2 });
  assert.deepEqual(await count(gw.url + '/x', 6), { a: 6 });
});

test('every worker serves the route', async () => {
  const [a] = await upstreams('a');
  const gw = await gateway({ routes: [{ id: 'r', uri: '/*', upstream: { nodes: { [`127.0.0.1:${a!.port}`]: 1 } } }] }, 2);
  assert.deepEqual(await count(gw.url + '/x', 10), { a: 10 });
});
