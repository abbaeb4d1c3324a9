import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startGateway, eventually, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { requestOnce } from '../../helpers/raw-http.js';

// Out of file descriptors: the worker cannot take the connections the primary passes it.
// It must say so (/status/ready 503 naming the cause) and serve again once descriptors
// are free, instead of being left out of the round-robin for good.

let gw: Gateway | undefined;
let up: TestUpstream | undefined;
const idle: net.Socket[] = [];
after(async () => {
  for (const s of idle) s.destroy();
  await gw?.stop();
  await up?.close();
});

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', () => resolve(s));
  });
}

test('a worker out of descriptors reports it and serves again once they are free', { timeout: 90_000 }, async () => {
  up = await startUpstream('a');
  gw = await startGateway({
    fdLimit: 200,
    workers: 1,
    config: { routes: [{ id: 'r', uri: '/*', upstream: { nodes: { [`127.0.0.1:${up.port}`]: 1 } } }] },
  });
  assert.equal(await requestOnce(gw.httpPort, '/x'), 'HTTP/1.1 200 OK');

  // 250 idle connections: more than the worker can hold under 200 descriptors, fewer
  // than would exhaust the primary too (it holds the ones the worker cannot take)
  for (let batch = 0; batch < 5; batch++) {
    idle.push(...await Promise.all(Array.from({ length: 50 }, () => connect(gw!.httpPort))));
  }
  let notReady = '';
  await eventually(async () => {
    const res = await fetch(`${gw!.statusUrl}/status/ready`, { signal: AbortSignal.timeout(3_000) });
    notReady = (await res.json() as { error_msg?: string }).error_msg ?? '';
    return res.status === 503;
  }, 100, 100);
  assert.match(notReady, /^worker 0 \(pid \d+\) cannot accept connections: too many open files \(EMFILE\)$/);

  for (const s of idle.splice(0)) s.destroy();
  // the connections the worker could not take were kept by the primary: they are handed
  // over (and found closed) as descriptors free up, then new ones are served
  await eventually(async () => (await requestOnce(gw!.httpPort, '/x').catch(() => '')) === 'HTTP/1.1 200 OK', 20, 100);
  await eventually(async () => (await fetch(`${gw!.statusUrl}/status/ready`, { signal: AbortSignal.timeout(3_000) })).status === 200, 50, 100);
  assert.match(gw.output(), /worker accepts connections again/);
});
