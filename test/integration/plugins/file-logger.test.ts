import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startGateway, eventually, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get, rawRequest } from '../../helpers/http.js';

// The seeds' plugin-metadata example (002): a logger on two routes, a log_format in the
// plugin metadata, and one route whose instance sets its own log_format, which wins.

let gw: Gateway;
let up: TestUpstream;
let logFile: string;
let upstream: Record<string, unknown>;

function lines(): any[] {
  if (!existsSync(logFile)) return [];
  return readFileSync(logFile, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
}

function config(withMetadata: boolean): Record<string, unknown> {
  return {
    ...(withMetadata ? { plugin_metadata: [{ id: 'file-logger', log_format: { host: '$host', client_ip: '$remote_addr', source: 'metadata' } }] } : {}),
    routes: [
      { id: 'product', uri: '/product', upstream, plugins: { 'file-logger': { path: logFile } } },
      { id: 'order', uri: '/order', upstream, plugins: { 'file-logger': { path: logFile, log_format: { uri: '$uri', status: '$status', source: 'route' } } } },
      { id: 'sizes', uri: '/sizes', upstream, plugins: { 'file-logger': { path: logFile,
        log_format: { tag: '$http_x_tag', bytes_sent: '$bytes_sent', body_bytes_sent: '$body_bytes_sent', request_length: '$request_length' } } } },
    ],
  };
}

before(async () => {
  up = await startUpstream('a');
  upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
  // the log file sits in the test's folder, which is the configured log_dir
  gw = await startGateway({ workers: 2, config: {}, extra: { log_dir: '.' } });
  logFile = join(gw.dir, 'access.log');
  await gw.writeConfig(config(true));
  await eventually(async () => (await get(gw.url + '/order')).status === 200);
  // both workers, not just the one that answered
  await eventually(async () => (await get(gw.statusUrl + '/status/ready')).status === 200);
});

after(async () => {
  await gw?.stop();
  await up?.close();
});

// Lines are written after each response, so a test looks for its own lines (by a
// unique Host) rather than counting.

test('metadata log_format for one route, the instance log_format for the other', async () => {
  assert.equal((await get(gw.url + '/product', { headers: { host: 'shop.test' } })).status, 200);
  assert.equal((await get(gw.url + '/order')).status, 200);
  await eventually(() => lines().some((l) => l.host === 'shop.test'));
  assert.deepEqual(lines().find((l) => l.host === 'shop.test'), { host: 'shop.test', client_ip: '127.0.0.1', source: 'metadata', route_id: 'product', service_id: '' });
  await eventually(() => lines().some((l) => l.source === 'route'));
  assert.deepEqual(lines().find((l) => l.source === 'route'), { uri: '/order', status: 200, source: 'route', route_id: 'order', service_id: '' });
});

test('every request of every worker is one line', async () => {
  const ours = (): string[] => lines().map((l) => l.host).filter((h) => /^batch-\d+\.test$/.test(h));
  await Promise.all(Array.from({ length: 30 }, (_, i) => get(`${gw.url}/product`, { headers: { host: `batch-${i}.test` } })));
  await eventually(() => ours().length >= 30);
  assert.deepEqual(ours().sort(), Array.from({ length: 30 }, (_, i) => `batch-${i}.test`).sort());
});

test('bytes_sent, body_bytes_sent and request_length are the bytes on the wire', async () => {
  const request = 'POST /sizes HTTP/1.1\r\nHost: sizes.test\r\nX-Tag: wire\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello';
  const response = await rawRequest(gw.httpPort, request);
  assert.match(response, /^HTTP\/1\.1 200 /);
  const body = response.slice(response.indexOf('\r\n\r\n') + 4);
  await eventually(() => lines().some((l) => l.tag === 'wire'));
  const line = lines().find((l) => l.tag === 'wire');
  assert.equal(line.bytes_sent, Buffer.byteLength(response, 'latin1'));
  assert.equal(line.body_bytes_sent, Buffer.byteLength(body, 'latin1'));
  assert.equal(line.request_length, Buffer.byteLength(request));
});

test('without metadata the default entry is logged', async () => {
  await gw.writeConfig(config(false));
  await eventually(async () => {
    const n = lines().length;
    await get(gw.url + '/product?x=1');
    await eventually(() => lines().length > n);
    return lines()[lines().length - 1].source === undefined;
  });
  const e = lines()[lines().length - 1];
  assert.equal(e.route_id, 'product');
  assert.equal(e.request.method, 'GET');
  assert.equal(e.request.uri, '/product?x=1');
  assert.deepEqual(e.request.querystring, { x: '1' });
  assert.equal(e.response.status, 200);
  assert.equal(e.upstream, `127.0.0.1:${up.port}`);
  assert.equal(e.client_ip, '127.0.0.1');
  assert.ok(e.request.size > 0 && e.response.size > 0);
  assert.equal(typeof e.upstream_latency, 'number');
  assert.equal(e.response.headers['x-upstream'], 'a');
});
