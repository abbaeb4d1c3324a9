import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, eventually, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { connectH2c, h2Request } from '../../helpers/h2.js';

// Graceful quit with HTTP/2 sessions: GOAWAY to every session, a stream in flight finishes
// within drain_timeout, an idle session is closed at once, and the worker exits by itself.

let gw: Gateway;
let up: TestUpstream;

after(async () => {
  await gw?.stop();
  await up?.close();
});

test('quit: the stream in flight is answered, the idle session closed, the worker exits', { timeout: 60_000 }, async () => {
  up = await startUpstream('h2-drain');
  gw = await startGateway({
    node: { drain_timeout: 10 },
    config: { routes: [{ id: 'r', uri: '/*', upstream: { nodes: { [`127.0.0.1:${up.port}`]: 1 } } }] },
  });
  const idle = connectH2c(gw.httpPort);
  assert.equal((await h2Request(idle, { ':path': '/warm' })).status, 200);
  const idleClosed = new Promise<void>((resolve) => idle.once('close', () => resolve()));
  const busy = connectH2c(gw.httpPort);
  const slow = h2Request(busy, { ':path': '/slow?ms=1000' }, undefined, 15_000);
  await eventually(() => up.seen.some((r) => r.url.startsWith('/slow')), 100, 50);

  gw.signal('SIGTERM');
  const answer = await slow;
  assert.equal(answer.status, 200);
  assert.equal(answer.body.toString(), 'slow 1000');
  await idleClosed;
  await gw.exited;
  assert.match(gw.output(), /"code":0,"signal":null,"msg":"worker stopped"/);
  busy.destroy();
});
