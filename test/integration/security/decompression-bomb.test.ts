import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { startGateway, eventually, type Gateway } from '../../helpers/gateway.js';
import { get } from '../../helpers/http.js';

// response-rewrite decodes a compressed upstream body to run its filters: 50 MB of zeros
// gzip to ~50 KB, and used to be inflated whole into the worker's memory. Decoding now
// stops at node.max_buffered_body_size and that request gets a 502.

const BOMB = gzipSync(Buffer.alloc(50 * 1024 * 1024));
const SMALL = gzipSync(Buffer.from('{"name":"old"}'));
const LIMIT = 1024 * 1024;

let gw: Gateway;
let upstream: http.Server;

before(async () => {
  upstream = http.createServer((req, res) => {
    if (req.url === '/bomb') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': BOMB.length });
      res.end(BOMB);
    } else if (req.url === '/big') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(Buffer.alloc(2 * LIMIT, 'x'));
    } else {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': SMALL.length });
      res.end(SMALL);
    }
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  const rewrite = { 'response-rewrite': { filters: [{ regex: 'old', replace: 'new' }] } };
  gw = await startGateway({
    node: { max_buffered_body_size: LIMIT },
    config: { routes: [{ id: 'r', uris: ['/bomb', '/big', '/small'], upstream: { nodes: { [`127.0.0.1:${port}`]: 1 } }, plugins: rewrite }] },
  });
  await eventually(async () => (await get(`${gw.url}/small`)).status === 200);
});

after(async () => {
  await gw?.stop();
  await new Promise((r) => upstream?.close(r));
});

test('a gzip bomb through response-rewrite filters answers 502, and the worker serves the next request', async () => {
  const from = gw.output().length;
  const res = await get(`${gw.url}/bomb`);
  assert.equal(res.status, 502);
  await gw.waitForOutput(/response-rewrite: the decoded upstream response body is larger than node.max_buffered_body_size \(1048576 bytes\)/, from);
  const next = await get(`${gw.url}/small`);
  assert.equal(next.status, 200);
  assert.equal(next.body, '{"name":"new"}');
});

test('an uncompressed body over the bound answers 502 too', async () => {
  const from = gw.output().length;
  assert.equal((await get(`${gw.url}/big`)).status, 502);
  await gw.waitForOutput(/response-rewrite: the upstream response body is larger than node.max_buffered_body_size/, from);
  assert.equal((await get(`${gw.url}/small`)).status, 200);
});
