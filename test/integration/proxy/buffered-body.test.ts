import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startGateway, type Gateway, FIXTURE_PLUGIN_DIR } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get, rawRequest } from '../../helpers/http.js';

// A request body held in memory (`Exchange.bufferedBody`) goes upstream with its own
// Content-Length and, like nginx's proxy_next_upstream, lets idempotent requests be
// retried on another node. A body that streams from the client is sent once: never retried.

let gw: Gateway;
let good: TestUpstream;
let resetter: net.Server;
let resets = 0;

before(async () => {
  good = await startUpstream('good');
  // reads the request head, then drops the connection: a reset after the request was sent
  resetter = net.createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', () => { resets++; s.destroy(); });
  });
  await new Promise<void>((r) => resetter.listen(0, '127.0.0.1', r));
  const bad = `127.0.0.1:${(resetter.address() as net.AddressInfo).port}`;
  const both = { type: 'roundrobin', retries: 1, nodes: { [bad]: 1, [`127.0.0.1:${good.port}`]: 1 } };
  gw = await startGateway({
    config: {
      routes: [
        { id: 'buffered', uri: '/buffered', upstream: both, plugins: { 'buffers-body': { body: 'hello world' } } },
        { id: 'streamed', uri: '/streamed', upstream: both },
        { id: 'echo', uri: '/echo', upstream: { nodes: { [`127.0.0.1:${good.port}`]: 1 } }, plugins: { 'buffers-body': { body: 'hello world' } } },
      ],
    },
    extra: { plugin_dirs: [FIXTURE_PLUGIN_DIR] },
  });
});

after(async () => {
  await gw.stop();
  await good.close();
  resetter.close();
});

test('a buffered body is sent with its own Content-Length and no Transfer-Encoding', async () => {
  const r = await get(gw.url + '/echo', { method: 'PUT', body: 'abc' });
  assert.equal(r.status, 200);
  assert.equal(r.json().body, 'hello world');
  assert.equal(r.json().headers['content-length'], '11');
  const chunked = await rawRequest(gw.httpPort,
    'PUT /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
  assert.match(chunked, /^HTTP\/1\.1 200 /);
  const echoed = JSON.parse(chunked.slice(chunked.indexOf('\r\n\r\n') + 4));
  assert.equal(echoed.body, 'hello world');
  assert.equal(echoed.headers['content-length'], '11');
  assert.equal(echoed.headers['transfer-encoding'], undefined);
});

test('an idempotent request with a buffered body is retried on another node after a reset', async () => {
  const before = resets;
  for (let i = 0; i < 6; i++) {
    const r = await get(gw.url + '/buffered', { method: 'PUT', body: 'abc' });
    assert.equal(r.status, 200, `request ${i}`);
    assert.equal(r.json().body, 'hello world');
  }
  assert.ok(resets - before >= 3, `the resetting node was tried (${resets - before} resets)`);
});

test('a POST with a buffered body is not retried once it reached a node', async () => {
  const statuses = new Set<number>();
  for (let i = 0; i < 4; i++) statuses.add((await get(gw.url + '/buffered', { method: 'POST', body: 'abc' })).status);
  assert.deepEqual([...statuses].sort(), [200, 502]);
});

test('a streamed body is never retried, even for an idempotent method', async () => {
  const statuses = new Set<number>();
  for (let i = 0; i < 4; i++) statuses.add((await get(gw.url + '/streamed', { method: 'PUT', body: 'abc' })).status);
  assert.deepEqual([...statuses].sort(), [200, 502]);
});
