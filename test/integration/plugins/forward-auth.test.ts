import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http, { type IncomingMessage } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually, startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import { withPluginRoutes } from '../../helpers/plugin-admin.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { startLoopbackServer, type ReceivedRequest } from '../../helpers/loopback-server.js';
import { makeCert } from '../../helpers/certs.js';
import { describeKeepalive } from '../../helpers/keepalive-checks.js';
import { metricValue } from '../../helpers/observe.js';

// A real authorization service on loopback: `authorization: Bearer good` passes with
// X-User-ID, `Bearer anonymous` passes without it; `/slow` never answers in time; anything else is refused with a redirect.
interface AuthCall { url: string; method: string; headers: IncomingMessage['headers']; body: string }
const calls: AuthCall[] = [];
let auth: http.Server;
let authUrl: string;
let authTls: http.Server;
let authTlsUrl: string;

let gw: Gateway;
let up: TestUpstream;

async function startAuth(): Promise<void> {
  ({ server: auth, url: authUrl } = await startLoopbackServer(answerAuth));
  ({ server: authTls, url: authTlsUrl } = await startLoopbackServer(answerAuth, { tls: makeCert(['auth.test']) }));
}

function answerAuth(req: ReceivedRequest, res: http.ServerResponse): void {
  const body = req.body.toString();
  calls.push({ url: req.url, method: req.method, headers: req.headers, body });
  if (req.url === '/slow') { setTimeout(() => res.end('late'), 2000).unref(); return; }
  if (req.headers.authorization === 'Bearer anonymous') { res.end('ok'); return; }
  if (req.headers.authorization === 'Bearer good' || req.url === '/post' && body === 'let me in') {
    res.writeHead(200, { 'x-user-id': 'u-42' });
    res.end('ok');
    return;
  }
  res.writeHead(401, { location: 'https://login.example/', 'x-auth-secret': 'internal', 'content-type': 'text/plain' });
  res.end('please log in');
}

before(async () => {
  await startAuth();
  ({ gw, up } = await startWithUpstream((upstream) => ({
    routes: [
      { id: 'fa', uri: '/fa', upstream, plugins: { 'forward-auth': {
        uri: `${authUrl}/verify`, request_headers: ['Authorization', 'X-Forwarded-Host'],
        upstream_headers: ['X-User-ID'], client_headers: ['Location'],
      }, 'file-logger': { path: 'fa.log', log_format: { uri: '$request_uri', auth: '$forward_auth_status' } } } },
      { id: 'fa-post', uri: '/fa-post', upstream, plugins: { 'forward-auth': {
        uri: `${authUrl}/post`, request_method: 'POST', upstream_headers: ['X-User-ID'],
      } } },
      { id: 'fa-slow', uri: '/fa-slow', upstream, plugins: { 'forward-auth': { uri: `${authUrl}/slow`, timeout: 200, status_on_error: 503 } } },
      { id: 'fa-degrade', uri: '/fa-degrade', upstream, plugins: { 'forward-auth': { uri: 'http://127.0.0.1:1/down', allow_degradation: true } } },
      { id: 'fa-tls', uri: '/fa-tls', upstream, plugins: { 'forward-auth': { uri: `${authTlsUrl}/verify`, request_headers: ['Authorization'] } } },
      { id: 'fa-tls-unverified', uri: '/fa-tls-unverified', upstream, plugins: { 'forward-auth': {
        uri: `${authTlsUrl}/verify`, request_headers: ['Authorization'], ssl_verify: false,
      } } },
      { id: 'fa-down', uri: '/fa-down', upstream, plugins: { 'forward-auth': { uri: 'http://127.0.0.1:1/down', keepalive: false } } },
    ],
  }), { extra: { log_dir: '.' } }));
});

after(async () => {
  await stopWithUpstream(gw, up);
  await new Promise((resolve) => auth.close(resolve));
  authTls.closeAllConnections();
  await new Promise((resolve) => authTls.close(resolve));
});

test('ssl_verify: a self-signed auth service certificate is refused (status_on_error, 403); with ssl_verify false it is used', async () => {
  calls.length = 0;
  assert.equal((await get(gw.url + '/fa-tls', { headers: { authorization: 'Bearer good' } })).status, 403);
  assert.equal(calls.length, 0, 'nothing was sent over the unverified connection');
  assert.equal((await get(gw.url + '/fa-tls-unverified', { headers: { authorization: 'Bearer good' } })).status, 200);
  assert.equal(calls.at(-1)?.url, '/verify');
  assert.equal((await get(gw.url + '/fa-tls-unverified', { headers: { authorization: 'Bearer bad' } })).status, 401, 'the auth service still decides');
});

test('a 2xx from the auth service lets the request through with upstream_headers copied', async () => {
  calls.length = 0;
  const r = await get(gw.url + '/fa?x=1', { headers: { authorization: 'Bearer good', 'x-forwarded-host': 'evil.example' } });
  assert.equal(r.status, 200);
  assert.equal(up.seen.at(-1)!.headers['x-user-id'], 'u-42');
  const call = calls.at(-1)!;
  assert.equal(call.method, 'GET');
  assert.equal(call.headers.authorization, 'Bearer good');
  assert.equal(call.headers['x-forwarded-method'], 'GET');
  assert.equal(call.headers['x-forwarded-uri'], '/fa?x=1');
  assert.equal(call.headers['x-forwarded-proto'], 'http');
  assert.equal(call.headers['x-forwarded-for'], '127.0.0.1');
  assert.notEqual(call.headers['x-forwarded-host'], 'evil.example', 'the client cannot override X-Forwarded-*');
});

test('a refusal returns the auth service status, body and only the listed client_headers', async () => {
  const r = await get(gw.url + '/fa', { headers: { authorization: 'Bearer bad', 'x-user-id': 'forged' } });
  assert.equal(r.status, 401);
  assert.equal(r.body, 'please log in');
  assert.equal(r.headers.location, 'https://login.example/');
  assert.equal(r.headers['x-auth-secret'], undefined);
});

test('a client-sent copy of an upstream header the auth service did not set is removed', async () => {
  const anon = await get(gw.url + '/fa', { headers: { authorization: 'Bearer anonymous', 'x-user-id': 'forged' } });
  assert.equal(anon.status, 200);
  assert.equal(up.seen.at(-1)!.headers['x-user-id'], undefined);
});

test('POST sends the client body to the auth service and a client copy is overwritten', async () => {
  const before = up.seen.length;
  const r = await get(gw.url + '/fa-post', { method: 'POST', body: 'let me in', headers: { 'x-user-id': 'forged' } });
  assert.equal(r.status, 200);
  assert.equal(up.seen.length, before + 1);
  assert.equal(up.seen.at(-1)!.headers['x-user-id'], 'u-42');
  assert.equal(calls.at(-1)!.body, 'let me in', 'POST sends the client body to the auth service');
  assert.equal((await get(gw.url + '/fa-post', { method: 'POST', body: 'no' })).status, 401);
});

test('no answer in time gives status_on_error; allow_degradation lets it through', async () => {
  const slow = await get(gw.url + '/fa-slow');
  assert.equal(slow.status, 503);
  assert.equal((await get(gw.url + '/fa-down')).status, 403);
  assert.equal((await get(gw.url + '/fa-degrade')).status, 200);
  assert.match(gw.output(), /forward-auth failed to call the authorization service/);
});

test('calls the auth service did not answer are counted, degraded ones too; refusals are counted for the plugin', async () => {
  assert.equal((await get(gw.url + '/fa-degrade')).status, 200);
  assert.ok(await metricValue(gw, 'gatehouse_forward_auth_errors_total{route="fa-degrade"}') >= 1);
  assert.ok(await metricValue(gw, 'gatehouse_forward_auth_errors_total{route="fa-slow"}') >= 1);
  assert.equal(await metricValue(gw, 'gatehouse_forward_auth_errors_total{route="fa"}'), 0);
  assert.ok(await metricValue(gw, 'gatehouse_plugin_responses_total{plugin="forward-auth",route="fa",code="401"}') >= 1);
  assert.ok(await metricValue(gw, 'gatehouse_plugin_responses_total{plugin="forward-auth",route="fa-slow",code="503"}') >= 1);
});

test('bad config is refused through the Admin API with a 400 naming the field', () => withPluginRoutes('forward-auth', async (put) => {
  for (const [conf, field] of [
    [{ uri: authUrl, timeout: 0 }, 'timeout'],
    [{ uri: 'ftp://x' }, 'uri'],
    [{ uri: authUrl, request_method: 'PUT' }, 'request_method'],
    [{ uri: authUrl, status_on_error: 700 }, 'status_on_error'],
  ] as const) {
    const r = await put(conf);
    assert.equal(r.status, 400, r.text);
    assert.match(r.body.error_msg, new RegExp(`property "${field}" validation failed`));
  }
  assert.equal((await put({})).status, 400);
  assert.equal((await put({ uri: authUrl })).status, 201);
}));

test('the access log reads the auth service status from $forward_auth_status', async () => {
  await get(gw.url + '/fa?log=1', { headers: { authorization: 'Bearer good' } });
  await get(gw.url + '/fa?log=2', { headers: { authorization: 'Bearer bad' } });
  let entries: { uri: string; auth: unknown }[] = [];
  await eventually(async () => {
    const text = await readFile(join(gw.dir, 'fa.log'), 'utf8').catch(() => '');
    entries = text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { uri: string; auth: unknown });
    return entries.some((e) => e.uri === '/fa?log=2');
  });
  assert.equal(entries.find((e) => e.uri === '/fa?log=1')!.auth, 200);
  assert.equal(entries.find((e) => e.uri === '/fa?log=2')!.auth, 401);
});

describeKeepalive('forward-auth', (url, policy) => ({ uri: `${url}/verify`, ...policy }), (_req, res) => res.end('ok'));
