import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { startWithUpstream, stopWithUpstream, eventually, type Gateway, FIXTURE_PLUGIN_DIR } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get, rawRequest } from '../../helpers/http.js';

// One lifecycle for every request kind: WebSocket upgrades run the request phases
// before the handshake is accepted; plugins can read and replace the request body;
// asynchronous plugin calls have a deadline; a client that goes away cancels the
// work in flight.

let gw: Gateway;
let up: TestUpstream;
/** Where the `waits` plugin reports that its request's signal aborted. */
let notified: string[] = [];
let notifyServer: http.Server;
let notifyUrl: string;

before(async () => {
  notifyServer = http.createServer((req, res) => {
    notified.push(req.url ?? '');
    res.end();
  });
  await new Promise<void>((r) => notifyServer.listen(0, '127.0.0.1', r));
  notifyUrl = `http://127.0.0.1:${(notifyServer.address() as AddressInfo).port}/aborted`;
  ({ gw, up } = await startWithUpstream((upstream) => ({
    consumers: [{ username: 'jack', plugins: { 'key-auth': { key: 'jack-key' } } }],
    routes: [
      { id: 'ws-auth', uri: '/ws-auth', enable_websocket: true, upstream, plugins: { 'key-auth': {} } },
      { id: 'ws-deny', uri: '/ws-deny', enable_websocket: true, upstream, plugins: { 'ip-restriction': { blacklist: ['127.0.0.0/8'] } } },
      { id: 'ws-limit', uri: '/ws-limit', enable_websocket: true, upstream, plugins: { 'limit-count': { count: 1, time_window: 60, rejected_code: 429 } } },
      { id: 'ws-off', uri: '/ws-off', upstream, plugins: { 'key-auth': {} } },
      { id: 'plain', uri: '/plain', upstream },
      { id: 'upper', uri: '/upper', upstream, plugins: { 'body-rewrite': { mode: 'upper' } } },
      { id: 'replace', uri: '/replace', upstream, plugins: { 'body-rewrite': { mode: 'replace', with: 'replaced' } } },
      { id: 'read', uri: '/read', upstream, plugins: { 'body-rewrite': { mode: 'read', answer: true } } },
      { id: 'stream', uri: '/sink', upstream, plugins: { 'key-auth': {} } },
      { id: 'hang', uri: '/hang', upstream, plugins: { waits: {} } },
      { id: 'gone', uri: '/gone', upstream, plugins: { waits: { notify: notifyUrl } } },
      { id: 'log-hangs', uri: '/log-hangs', upstream, plugins: { waits: { phase: 'log' } } },
    ],
  }), { extra: { plugin_dirs: [FIXTURE_PLUGIN_DIR] }, node: { plugin_timeout: 0.5, max_buffered_body_size: 1024 } }));
});

after(async () => {
  await stopWithUpstream(gw, up);
  await new Promise<void>((r) => notifyServer.close(() => r()));
});

/** Opens a WebSocket; resolves with the handshake's status (101 when it opened) and the socket. */
function openWs(path: string, headers: Record<string, string> = {}): Promise<{ status: number; ws: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.httpPort}${path}`, { headers });
    ws.once('open', () => resolve({ status: 101, ws }));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, ws });
    });
    ws.once('error', reject);
  });
}

function echo(ws: WebSocket, text: string): Promise<string> {
  return new Promise((resolve) => {
    ws.once('message', (d) => resolve(d.toString()));
    ws.send(text);
  });
}

test('key-auth runs before a WebSocket handshake is accepted', async () => {
  const denied = await openWs('/ws-auth');
  assert.equal(denied.status, 401);
  const wrong = await openWs('/ws-auth', { apikey: 'nope' });
  assert.equal(wrong.status, 401);
  const ok = await openWs('/ws-auth', { apikey: 'jack-key' });
  assert.equal(ok.status, 101);
  assert.equal(await echo(ok.ws, 'hi'), `${up.name}: hi`);
  ok.ws.close();
});

test('ip-restriction refuses a WebSocket upgrade from a denied address', async () => {
  const r = await openWs('/ws-deny');
  assert.equal(r.status, 403);
});

test('limit-count counts WebSocket upgrades', async () => {
  const first = await openWs('/ws-limit');
  assert.equal(first.status, 101);
  first.ws.close();
  const second = await openWs('/ws-limit');
  assert.equal(second.status, 429);
});

test('an upgrade on a route without enable_websocket runs its plugins first, then is refused', async () => {
  assert.equal((await openWs('/ws-off')).status, 401);
  assert.equal((await openWs('/ws-off', { apikey: 'jack-key' })).status, 400);
});

test('an Upgrade: h2c request is served as HTTP/1.1, the offer ignored', async () => {
  const res = await rawRequest(gw.httpPort,
    'GET /plain HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n' +
    'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nConnection: close\r\n\r\n');
  assert.match(res, /^HTTP\/1\.1 200 /);
  const seen = up.seen.filter((s) => s.url === '/plain').at(-1)!;
  assert.equal(seen.headers.upgrade, undefined);
});

test('a plugin reads the request body and replaces it; the upstream gets the new body with its length', async () => {
  const r = await get(gw.url + '/upper', { method: 'POST', body: 'hello body' });
  assert.equal(r.status, 200);
  const echoed = r.json() as { body: string; headers: Record<string, string> };
  assert.equal(echoed.body, 'HELLO BODY');
  assert.equal(echoed.headers['content-length'], '10');
});

test('a chunked body read by a plugin goes upstream with a Content-Length', async () => {
  const res = await rawRequest(gw.httpPort,
    'POST /upper HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nabcde\r\n3\r\nfgh\r\n0\r\n\r\n');
  assert.match(res, /^HTTP\/1\.1 200 /);
  const body = JSON.parse(res.slice(res.indexOf('\r\n\r\n') + 4).replace(/^[0-9a-f]+\r\n/, '').replace(/\r\n0\r\n\r\n$/, '')) as { body: string; headers: Record<string, string> };
  assert.equal(body.body, 'ABCDEFGH');
  assert.equal(body.headers['content-length'], '8');
  assert.equal(body.headers['transfer-encoding'], undefined);
});

test('a plugin replaces a body it never read', async () => {
  const r = await get(gw.url + '/replace', { method: 'POST', body: 'x'.repeat(5000) });
  assert.equal(r.status, 200);
  assert.equal((r.json() as { body: string }).body, 'replaced');
});

test('a body over max_buffered_body_size is refused with 413 when a plugin reads it, and streams when none does', async () => {
  const small = await get(gw.url + '/read', { method: 'POST', body: 'x'.repeat(1000) });
  assert.equal(small.status, 200);
  assert.deepEqual(small.json(), { length: 1000 });
  const declared = await get(gw.url + '/read', { method: 'POST', body: 'x'.repeat(2000) });
  assert.equal(declared.status, 413);
  const chunked = await rawRequest(gw.httpPort,
    `POST /read HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${(800).toString(16)}\r\n${'y'.repeat(800)}\r\n${(800).toString(16)}\r\n${'y'.repeat(800)}\r\n0\r\n\r\n`);
  assert.match(chunked, /^HTTP\/1\.1 413 /);
  // No plugin asks for the body of /sink: 5000 bytes stream straight through.
  const streamed = await get(gw.url + '/sink', { method: 'POST', body: 'z'.repeat(5000), headers: { apikey: 'jack-key' } });
  assert.equal(streamed.status, 200);
  assert.deepEqual(streamed.json(), { received: 5000 });
});

test('an asynchronous plugin call past plugin_timeout fails its request with 504, logged with the plugin name', async () => {
  const from = gw.output().length;
  const r = await get(gw.url + '/hang');
  assert.equal(r.status, 504);
  await gw.waitForOutput(/plugin waits timed out in access after 500 ms/, from);
  // the worker is fine
  assert.equal((await get(gw.url + '/plain')).status, 200);
});

test('a client that disconnects cancels the plugin work in flight (its signal aborts)', async () => {
  notified = [];
  await new Promise<void>((resolve) => {
    const req = http.get(gw.url + '/gone');
    req.on('error', () => resolve());
    setTimeout(() => { req.destroy(); resolve(); }, 150);
  });
  await eventually(() => notified.some((u) => u.includes('client%20closed%20the%20connection')));
});

test('a log handler that never settles is bounded by the deadline too; requests keep flowing', async () => {
  const from = gw.output().length;
  assert.equal((await get(gw.url + '/log-hangs')).status, 200);
  await gw.waitForOutput(/plugin waits failed in log/, from);
});
