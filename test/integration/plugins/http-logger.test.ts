import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGateway, eventually, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { assertDeadSinkCostsNothing } from '../../helpers/logger-checks.js';

// http-logger against a real log collector on 127.0.0.1: batches, retries, and a
// response that never waits for (or fails with) the logging.

let gw: Gateway;
let up: TestUpstream;
let collector: http.Server;
const posts: { path: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
/** Paths whose next N posts get a 500. */
const failures = new Map<string, number>();

before(async () => {
  collector = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const path = req.url ?? '';
      posts.push({ path, headers: req.headers, body });
      const fail = failures.get(path) ?? 0;
      if (fail > 0) failures.set(path, fail - 1);
      res.statusCode = fail > 0 ? 500 : 200;
      res.end();
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  const logs = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
  up = await startUpstream('a');
  const upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
  gw = await startGateway({
    config: {
      routes: [
        { id: 'batched', uri: '/batched', upstream, plugins: { 'http-logger': {
          uri: `${logs}/batched`, batch_max_size: 3, inactive_timeout: 2, auth_header: 'Basic c2VjcmV0', log_format: { uri: '$request_uri', status: '$status' },
        } } },
        { id: 'retry', uri: '/retry', upstream, plugins: { 'http-logger': {
          uri: `${logs}/retry`, batch_max_size: 1, max_retry_count: 2, retry_delay: 0,
        } } },
        { id: 'down', uri: '/down', upstream, plugins: { 'http-logger': {
          uri: 'http://127.0.0.1:1/nobody', batch_max_size: 1, timeout: 1,
        } } },
      ],
    },
  });
});

after(async () => {
  await gw?.stop();
  await up?.close();
  collector.closeAllConnections();
  await new Promise((r) => collector.close(r));
});

test('entries arrive as one JSON array per batch, with the auth header', async () => {
  for (let i = 1; i <= 3; i++) assert.equal((await get(`${gw.url}/batched?n=${i}`)).status, 200);
  await eventually(() => posts.some((p) => p.path === '/batched'));
  const batch = posts.filter((p) => p.path === '/batched');
  assert.equal(batch.length, 1);
  assert.equal(batch[0]!.headers['content-type'], 'application/json');
  assert.equal(batch[0]!.headers.authorization, 'Basic c2VjcmV0');
  assert.deepEqual(JSON.parse(batch[0]!.body), [1, 2, 3].map((n) => ({ uri: `/batched?n=${n}`, status: 200, route_id: 'batched', service_id: '' })));
});

test('a partial batch goes out after inactive_timeout', async () => {
  const before = posts.filter((p) => p.path === '/batched').length;
  assert.equal((await get(`${gw.url}/batched?n=lonely`)).status, 200);
  await eventually(() => posts.filter((p) => p.path === '/batched').length > before, 100, 50);
  const last = posts.filter((p) => p.path === '/batched').pop()!;
  assert.deepEqual(JSON.parse(last.body), [{ uri: '/batched?n=lonely', status: 200, route_id: 'batched', service_id: '' }]);
});

test('a failing collector is retried max_retry_count times; the entry is the default one (an object: batch_max_size 1)', async () => {
  failures.set('/retry', 2);
  assert.equal((await get(`${gw.url}/retry?k=v`, { headers: { 'x-trace': 't1' } })).status, 200);
  await eventually(() => posts.filter((p) => p.path === '/retry').length === 3);
  const tries = posts.filter((p) => p.path === '/retry');
  for (const t of tries) assert.equal(t.body, tries[0]!.body);
  const entry = JSON.parse(tries[0]!.body);
  assert.equal(entry.route_id, 'retry');
  assert.equal(entry.request.uri, '/retry?k=v');
  assert.equal(entry.request.headers['x-trace'], 't1');
  assert.deepEqual(entry.request.querystring, { k: 'v' });
  assert.equal(entry.response.status, 200);
  assert.equal(entry.upstream, `127.0.0.1:${up.port}`);
  assert.equal(typeof entry.latency, 'number');
});

test('an unreachable collector costs the client nothing: backoff, drops counted, a bounded number of warnings', async () => {
  await assertDeadSinkCostsNothing(gw, '/down', 'http-logger', 'http logger');
});
