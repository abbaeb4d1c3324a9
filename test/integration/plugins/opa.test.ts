import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http, { type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import { withPluginRoutes } from '../../helpers/plugin-admin.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { startLoopbackServer, type ReceivedRequest } from '../../helpers/loopback-server.js';
import { makeCert } from '../../helpers/certs.js';
import { logEntry, metricValue } from '../../helpers/observe.js';
import { describeKeepalive } from '../../helpers/keepalive-checks.js';

// A real decision server on loopback speaking OPA's REST data API: POST /v1/data/<policy>
// answers {"result": …}. Policies: `bool` allows GET only; `obj` allows `x-role: admin` with
// an X-User header, refuses others with a reason, status and headers; `slow` never answers
// in time; `broken` answers without a result. The same server also listens on HTTPS with a
// self-signed certificate.
interface Call { url: string; input: Record<string, any> }
const calls: Call[] = [];
let opa: http.Server;
let opaUrl: string;
let opaTls: http.Server;
let opaTlsUrl: string;
let gw: Gateway;
let up: TestUpstream;

function decide(policy: string, input: Record<string, any>): unknown {
  if (policy === 'bool') return { result: input.request.method === 'GET' };
  if (policy === 'obj') {
    if (input.request.headers['x-role'] === 'admin') return { result: { allow: true, headers: { 'X-User': 'alice' } } };
    return { result: { allow: false, status_code: 401, reason: { code: 40001, desc: 'not admin' }, headers: { 'X-Why': 'role' } } };
  }
  return { nothing: true };
}

function answerOpa(req: ReceivedRequest, res: ServerResponse): void {
  const input = (JSON.parse(req.body.toString()) as { input: Record<string, any> }).input;
  calls.push({ url: req.url, input });
  const policy = req.url.replace('/v1/data/', '');
  if (policy === 'slow') { setTimeout(() => res.end('{}'), 2000).unref(); return; }
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(decide(policy, input)));
}

async function startOpa(): Promise<void> {
  ({ server: opa, url: opaUrl } = await startLoopbackServer(answerOpa));
  ({ server: opaTls, url: opaTlsUrl } = await startLoopbackServer(answerOpa, { tls: makeCert(['opa.test']) }));
}

before(async () => {
  await startOpa();
  ({ gw, up } = await startWithUpstream((upstream) => ({
    routes: [
      { id: 'opa-bool', uri: '/bool', upstream, plugins: { opa: { host: opaUrl, policy: 'bool', with_route: true } } },
      { id: 'opa-obj', uri: '/obj', upstream, plugins: { opa: { host: opaUrl, policy: 'obj', send_headers_upstream: ['X-User'] },
        'file-logger': { path: 'opa.log', log_format: { uri: '$request_uri', opa_status: '$opa_status', reason: '$opa_reason' } } } },
      { id: 'opa-slow', uri: '/slow', upstream, plugins: { opa: { host: opaUrl, policy: 'slow', timeout: 200 } } },
      { id: 'opa-broken', uri: '/broken', upstream, plugins: { opa: { host: opaUrl, policy: 'broken' } } },
      { id: 'opa-down', uri: '/down', upstream, plugins: { opa: { host: 'http://127.0.0.1:1', policy: 'x', keepalive: false },
        'file-logger': { path: 'opa.log', log_format: { uri: '$request_uri', opa_status: '$opa_status', reason: '$opa_reason' } } } },
      { id: 'opa-tls', uri: '/tls', upstream, plugins: { opa: { host: opaTlsUrl, policy: 'bool' } } },
      { id: 'opa-tls-unverified', uri: '/tls-unverified', upstream, plugins: { opa: { host: opaTlsUrl, policy: 'bool', ssl_verify: false } } },
    ],
  }), { extra: { log_dir: '.' } }));
});

after(async () => {
  await stopWithUpstream(gw, up);
  await new Promise((resolve) => opa.close(resolve));
  opaTls.closeAllConnections();
  await new Promise((resolve) => opaTls.close(resolve));
});

test('the input document carries the request, vars and (with_route) the route', async () => {
  calls.length = 0;
  const r = await get(gw.url + '/bool?k=v&multi=a&multi=b&flag', { headers: { 'x-a': '1' } });
  assert.equal(r.status, 200);
  const { url, input } = calls.at(-1)!;
  assert.equal(url, '/v1/data/bool');
  assert.equal(input.type, 'http');
  assert.equal(input.request.method, 'GET');
  assert.equal(input.request.path, '/bool');
  assert.equal(input.request.scheme, 'http');
  assert.equal(input.request.headers['x-a'], '1');
  assert.deepEqual(input.request.query, { k: 'v', multi: ['a', 'b'], flag: true });
  assert.equal(typeof input.request.port, 'number');
  assert.equal(input.var.remote_addr, '127.0.0.1');
  assert.equal(typeof input.var.timestamp, 'number');
  assert.equal(input.route.id, 'opa-bool');
  assert.equal(input.consumer, undefined);
});

test('a boolean result allows or refuses with 403', async () => {
  assert.equal((await get(gw.url + '/bool')).status, 200);
  assert.equal((await get(gw.url + '/bool', { method: 'POST', body: 'x' })).status, 403);
});

test('an object result: refusal carries status_code, reason and headers; allow copies send_headers_upstream', async () => {
  const no = await get(gw.url + '/obj', { headers: { 'x-user': 'forged' } });
  assert.equal(no.status, 401);
  assert.deepEqual(JSON.parse(no.body), { code: 40001, desc: 'not admin' });
  assert.equal(no.headers['x-why'], 'role');
  const yes = await get(gw.url + '/obj', { headers: { 'x-role': 'admin', 'x-user': 'forged' } });
  assert.equal(yes.status, 200);
  assert.equal(up.seen.at(-1)!.headers['x-user'], 'alice');
});

test('OPA unreachable or too slow gives 403, a reply without a decision 503', async () => {
  assert.equal((await get(gw.url + '/down')).status, 403);
  assert.equal((await get(gw.url + '/slow')).status, 403);
  assert.equal((await get(gw.url + '/broken')).status, 503);
  assert.match(gw.output(), /opa failed to process the OPA decision/);
});

test('ssl_verify: a self-signed OPA certificate is refused (403, as unreachable); with ssl_verify false it is used', async () => {
  const from = gw.output().length;
  calls.length = 0;
  assert.equal((await get(gw.url + '/tls')).status, 403);
  assert.equal(calls.length, 0, 'no decision was asked over the unverified connection');
  await gw.waitForOutput(/opa failed to process the OPA decision from https:.*(self.signed|certificate)/i, from);
  assert.equal((await get(gw.url + '/tls-unverified')).status, 200);
  assert.equal(calls.at(-1)?.url, '/v1/data/bool');
  assert.equal((await get(gw.url + '/tls-unverified', { method: 'POST', body: 'x' })).status, 403, 'the policy still decides');
});

test('the access log shows the OPA status and the decision reason ($opa_status, $opa_reason); failed calls are counted', async () => {
  await get(gw.url + '/obj?log=refused');
  await get(gw.url + '/obj?log=allowed', { headers: { 'x-role': 'admin' } });
  await get(gw.url + '/down?log');
  const log = join(gw.dir, 'opa.log');
  const refused = await logEntry(log, 'uri', '/obj?log=refused');
  assert.deepEqual([refused.opa_status, refused.reason], [200, '{"code":40001,"desc":"not admin"}']);
  const allowed = await logEntry(log, 'uri', '/obj?log=allowed');
  assert.deepEqual([allowed.opa_status, allowed.reason], [200, null]);
  assert.equal((await logEntry(log, 'uri', '/down?log')).opa_status, 'error');
  assert.ok(await metricValue(gw, 'gatehouse_opa_errors_total{route="opa-down"}') >= 2);
  assert.equal(await metricValue(gw, 'gatehouse_opa_errors_total{route="opa-broken"}'), 1);
  assert.equal(await metricValue(gw, 'gatehouse_opa_errors_total{route="opa-obj"}'), 0);
  assert.ok(await metricValue(gw, 'gatehouse_plugin_responses_total{plugin="opa",route="opa-obj",code="401"}') >= 2);
});

test('bad config is refused through the Admin API with a 400 naming the field', () => withPluginRoutes('opa', async (put) => {
  for (const [conf, field] of [
    [{ host: opaUrl, policy: 'p', timeout: 0 }, 'timeout'],
    [{ host: 'ftp://x', policy: 'p' }, 'host'],
    [{ host: opaUrl, policy: 'p', send_headers_upstream: [] }, 'send_headers_upstream'],
    [{ host: opaUrl, policy: 'p', with_route: 'yes' }, 'with_route'],
  ] as const) {
    const r = await put(conf);
    assert.equal(r.status, 400, r.text);
    assert.match(r.body.error_msg, new RegExp(`property "${field}" validation failed`));
  }
  assert.equal((await put({ host: opaUrl })).status, 400);
  assert.equal((await put({ host: opaUrl, policy: 'p' })).status, 201);
}));

describeKeepalive('opa', (url, policy) => ({ host: url, policy: 'allow', ...policy }), (_req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end('{"result":true}');
});
