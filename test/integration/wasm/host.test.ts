// proxy-wasm plugins through the real gateway: every ABI marker and start style, header
// maps with pseudo-headers, bodies both ways, local responses, properties, logs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertOwnFraming, get, rawRequest } from '../../helpers/http.js';
import { startWasmGateway, type WasmGateway } from '../../helpers/wasm-gateway.js';
import { metricValue } from '../../helpers/observe.js';

let w: WasmGateway;
const MAX_BODY = 64 * 1024;

const route = (id: string, uri: string, plugins: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ id, uri, upstream_id: 'u1', plugins, ...extra });

before(async () => {
  w = await startWasmGateway([
    { name: 'set-header', fixture: 'set-header' },
    { name: 'abi-0-1-0', fixture: 'abi-0-1-0' },
    { name: 'abi-0-2-0', fixture: 'abi-0-2-0' },
    { name: 'abi-0-2-100', fixture: 'abi-0-2-100' },
    { name: 'start-section', fixture: 'start-section' },
    { name: 'start-command', fixture: 'start-command' },
    { name: 'start-wasi-unstable', fixture: 'start-wasi-unstable' },
    { name: 'alloc-proxy', fixture: 'alloc-proxy' },
    { name: 'unknown-import', fixture: 'unknown-import' },
    { name: 'body-rewrite', fixture: 'body-rewrite' },
    { name: 'body-stream', fixture: 'body-stream' },
    { name: 'local-response', fixture: 'local-response' },
    { name: 'response-headers', fixture: 'response-headers' },
    { name: 'properties', fixture: 'properties' },
    { name: 'logging', fixture: 'logging' },
    { name: 'pause-resume-body', fixture: 'pause-resume-body' },
    { name: 'http-call', fixture: 'http-call' },
    { name: 'access-phase', fixture: 'set-header', http_request_phase: 'access' },
  ], () => [
    route('set-header', '/set-header', { 'set-header': { greeting: 'hi' } }),
    route('empty-config', '/empty-config', { 'set-header': {} }),
    route('abi-010', '/abi/0.1.0', { 'abi-0-1-0': {} }),
    route('abi-020', '/abi/0.2.0', { 'abi-0-2-0': {} }),
    route('abi-02100', '/abi/0.2.100', { 'abi-0-2-100': {} }),
    route('start-section', '/start/section', { 'start-section': {} }),
    route('start-command', '/start/command', { 'start-command': {} }),
    route('start-unstable', '/start/unstable', { 'start-wasi-unstable': {} }),
    route('alloc', '/alloc', { 'alloc-proxy': {} }),
    route('unknown-import', '/unknown-import', { 'unknown-import': {} }),
    route('body-rewrite', '/body-rewrite', { 'body-rewrite': {} }),
    route('body-stream', '/body-stream', { 'body-stream': {} }),
    route('local', '/local', { 'local-response': {} }),
    route('resp-headers', '/resp-headers', { 'response-headers': {} }),
    route('props', '/props', { properties: {} }, { name: 'props-route' }),
    route('logging', '/logging', { logging: {} }),
    route('pause-body', '/pause-body', { 'pause-resume-body': {} }),
    route('http-call', '/http-call', { 'http-call': {} }),
    route('access', '/access', { 'access-phase': {}, 'proxy-rewrite': { headers: { set: { 'x-wasm': 'from-proxy-rewrite' } } } }),
  ], { node: { max_buffered_body_size: MAX_BODY } });
});

after(async () => { await w?.stop(); });

function upstreamSaw(body: string): { url: string; headers: Record<string, string>; body: string } {
  return JSON.parse(body) as { url: string; headers: Record<string, string>; body: string };
}

test('a wasm plugin bound to a route changes the request: its configuration arrives as JSON', async () => {
  const r = await get(`${w.gw.url}/set-header`);
  assert.equal(r.status, 200);
  assert.equal(upstreamSaw(r.body).headers['x-wasm'], '{"greeting":"hi"}');
  const empty = await get(`${w.gw.url}/empty-config`);
  assert.equal(upstreamSaw(empty.body).headers['x-wasm'], '{}');
});

test('every ABI marker loads: 0.1.0 (two-argument header callbacks), 0.2.0, 0.2.100 (Higress)', async () => {
  for (const v of ['0.1.0', '0.2.0', '0.2.100']) {
    const r = await get(`${w.gw.url}/abi/${v}`);
    assert.equal(r.status, 200, v);
    assert.equal(upstreamSaw(r.body).headers['x-abi'], v);
  }
});

test('every start style: start section, _start ending in proc_exit(0), wasi_unstable imports', async () => {
  for (const p of ['section', 'command', 'unstable']) {
    const r = await get(`${w.gw.url}/start/${p}`);
    assert.equal(upstreamSaw(r.body).headers['x-started'], '1', p);
  }
  await w.gw.waitForOutput(/"plugin":"start-wasi-unstable"[^\n]*hello from wasi_unstable/);
});

test('the allocator may be proxy_on_memory_allocate; :path is the request path with its query', async () => {
  const r = await get(`${w.gw.url}/alloc?x=1`);
  assert.equal(upstreamSaw(r.body).headers['x-alloc-path'], '/alloc?x=1');
});

test('an env.proxy_* import the host does not know links and answers UNIMPLEMENTED (12)', async () => {
  const r = await get(`${w.gw.url}/unknown-import`);
  assert.equal(upstreamSaw(r.body).headers['x-unknown-status'], '12');
});

test('bodies both ways: a paused request body is rewritten whole, the response body too', async () => {
  const r = await get(`${w.gw.url}/body-rewrite`, { method: 'POST', body: 'hello world' });
  assert.equal(r.status, 200);
  const saw = upstreamSaw(r.body.toLowerCase());
  assert.equal(saw.body, '[hello world]');
  assert.equal(r.body, r.body.toUpperCase(), 'response body uppercased');
  // the plugin removed content-length: the gateway frames the rewritten body itself (chunked, or its new length)
  assertOwnFraming(r);
});

test('a plugin holding a request body past the buffer bound answers 413, counted for that plugin', async () => {
  const size = MAX_BODY + 1024;
  const reply = await rawRequest(w.gw.httpPort, Buffer.concat([
    Buffer.from(`POST /body-rewrite HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`), Buffer.alloc(size, 'x'),
  ]), 5000);
  assert.match(reply, /^HTTP\/1\.1 413 /);
  assert.doesNotMatch(w.gw.output(), /uncaught error in a worker/, 'the answer\'s own body is not mistaken for the held request body');
  assert.equal(await metricValue(w.gw, 'gatehouse_plugin_responses_total{plugin="body-rewrite",route="body-rewrite",code="413"}'), 1);
});

test('a response body the plugin continues on streams chunk by chunk through it', async () => {
  const r = await get(`${w.gw.url}/body-stream`);
  assert.equal(r.status, 200);
  assert.match(r.body, /^</);
  assert.match(r.body, />$/);
  assert.ok(r.body.includes('"upstream":"u1"'));
});

test('request body chunks arriving while headers are paused are delivered after resume', async () => {
  const r = await get(`${w.gw.url}/pause-body`, { method: 'POST', body: 'abc' });
  assert.equal(r.status, 200);
  assert.match(upstreamSaw(r.body).body, /^<calls=\d+>abc$/);
});

test('a local response answers the client and the upstream is not called', async () => {
  const before = w.up.seen.length;
  const r = await get(`${w.gw.url}/local`);
  assert.equal(r.status, 418);
  assert.equal(r.body, "I'm a teapot\n");
  assert.equal(r.headers['x-local'], '1');
  assert.equal(w.up.seen.length, before);
});

test('response headers with :status', async () => {
  const r = await get(`${w.gw.url}/resp-headers`);
  assert.equal(r.headers['x-wasm-status'], '200');
  // the response as the client gets it: the gateway's Server header is on it
  assert.match(String(r.headers['x-upstream-server']), /^Gatehouse\//);
});

test('properties as Envoy encodes them: plugin ids, route_name, cluster_name, request.*, source/destination', async () => {
  const r = await get(`${w.gw.url}/props?q=1`, { headers: { 'x-request-id': 'req-42' } });
  const h = upstreamSaw(r.body).headers;
  assert.equal(h['x-prop-plugin_root_id'], 'properties');
  assert.equal(h['x-prop-plugin_name'], 'properties');
  assert.equal(h['x-prop-route_name'], 'props-route');
  assert.match(h['x-prop-cluster_name']!, /^outbound\|\d+\|\|u1$/);
  assert.equal(h['x-prop-request-path'], '/props?q=1');
  assert.equal(h['x-prop-request-url_path'], '/props');
  assert.equal(h['x-prop-request-method'], 'GET');
  assert.equal(h['x-prop-request-scheme'], 'http');
  assert.equal(h['x-prop-request-protocol'], 'HTTP/1.1');
  assert.equal(h['x-prop-request-id'], 'req-42');
  assert.match(h['x-prop-source-address']!, /^127\.0\.0\.1:\d+$/);
  assert.equal(h['x-prop-source-port'], h['x-prop-source-address']!.split(':')[1]);
  assert.match(h['x-prop-destination-address']!, /^127\.0\.0\.1:\d+$/);
  assert.equal(r.headers['x-prop-response-code'], '200');
});

test('proxy_log and WASI stdout/stderr reach the gateway log under the plugin name, a line at a time', async () => {
  const from = w.gw.output().length;
  await get(`${w.gw.url}/logging`);
  await w.gw.waitForOutput(/"plugin":"logging"[^\n]*"msg":"level 3"/, from);
  await w.gw.waitForOutput(/"plugin":"logging"[^\n]*"msg":"byte by byte"/, from);
  await w.gw.waitForOutput(/"level":50[^\n]*"plugin":"logging"[^\n]*"msg":"to stderr"/, from);
});

test('pause, http_call to a configured upstream, resume: the call answer reaches the request', async () => {
  const r = await get(`${w.gw.url}/http-call`);
  assert.equal(r.status, 200);
  const saw = upstreamSaw(r.body);
  const call = w.up.seen.find((s) => s.url === '/auth');
  assert.ok(call !== undefined, 'the auth call reached the upstream');
  assert.equal(call.headers['x-from-wasm'], '1');
  assert.equal(call.headers.host, 'auth.local');
  assert.ok(saw.headers['x-auth']!.includes('"url":"/auth"'), 'the call body became x-auth');
});

test('http_call to a cluster the configuration does not name fails (no address outside it is reachable)', async () => {
  const r = await get(`${w.gw.url}/http-call`, { headers: { 'x-cluster': '127.0.0.1:22' } });
  assert.equal(r.status, 503);
  assert.equal(r.body, 'http_call failed\n');
  const byIstioName = await get(`${w.gw.url}/http-call`, { headers: { 'x-cluster': 'outbound|80||auth' } });
  assert.equal(byIstioName.status, 200);
});

test('a failing call is delivered with no headers (the plugin answers 503)', async () => {
  const r = await get(`${w.gw.url}/http-call`, { headers: { 'x-cluster': 'dead' } });
  assert.equal(r.status, 503);
  assert.equal(r.body, 'auth unavailable\n');
});

test('http_request_phase: access runs on_request_headers after the rewrite phase', async () => {
  // proxy-rewrite (rewrite phase) sets x-wasm first; the wasm plugin in access overwrites it
  const r = await get(`${w.gw.url}/access`);
  assert.equal(upstreamSaw(r.body).headers['x-wasm'], '{}');
});
