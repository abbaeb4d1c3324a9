// Bad client input always gets a 4xx with a JSON error_msg, never a 5xx.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { rawRequest } from '../../helpers/http.js';
import { adminClient, type AdminCall, type AdminReply } from './client.js';

let gw: Gateway;
let call: AdminCall;
const upstream = { nodes: { '127.0.0.1:1980': 1 } };

before(async () => {
  gw = await startGateway({ store: 'sqlite' });
  call = adminClient(gw);
});
after(async () => { await gw?.stop(); });

function refused(r: AdminReply, status: number, msg?: RegExp): void {
  assert.equal(r.status, status, r.text);
  assert.equal(typeof r.body?.error_msg, 'string', r.text);
  if (msg !== undefined) assert.match(r.body.error_msg, msg);
}

const adminPort = (): number => Number(new URL(gw.adminUrl).port);

test('a body that is not JSON is a 400 invalid request body', async () => {
  refused(await call('PUT', '/routes/1', undefined, { raw: '{"uri": ' }), 400, /^invalid request body: /);
  refused(await call('PUT', '/routes/1', undefined, { raw: 'uri=/x', headers: { 'content-type': 'application/json' } }), 400,
    /^invalid request body: /);
});

test('a body of another content type is a 415, while curl -d defaults are accepted', async () => {
  const body = JSON.stringify({ uri: '/ct', upstream });
  refused(await call('PUT', '/routes/ct', undefined, { raw: body, headers: { 'content-type': 'application/xml' } }), 415);
  refused(await call('PUT', '/routes/ct', undefined, { raw: body, headers: { 'content-type': 'multipart/form-data; boundary=x' } }), 415);
  const curl = await call('PUT', '/routes/ct', undefined, { raw: body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(curl.status, 201, curl.text);
});

test('unknown fields and wrong types are 400s naming the field', async () => {
  refused(await call('PUT', '/routes/1', { uri: '/x', upstream, bogus: 1 }), 400, /bogus/);
  refused(await call('PUT', '/routes/1', { uri: 7, upstream }), 400, /property "uri" validation failed/);
  refused(await call('PUT', '/upstreams/1', { nodes: { '127.0.0.1:1980': 'heavy' } }), 400, /nodes/);
  refused(await call('PUT', '/routes/1', [1, 2]), 400, /expected object, got array/);
  refused(await call('PUT', '/routes/1', 'a string'), 400, /expected object/);
  refused(await call('PUT', '/routes/1', null), 400);
  refused(await call('PUT', '/routes/1', undefined), 400, /missing configurations/);
  refused(await call('PATCH', '/routes/1/__proto__/x', 1), 400);
});

test('an unknown variable is a 400 naming the field and the variable, wherever a variable is named', async () => {
  refused(await call('PUT', '/routes/v1', { uri: '/v', upstream, vars: [['arg_a', '==', '1'], ['htp_x', '==', '1']] }), 400,
    /^failed to validate the 'vars' expression: unknown variable 'htp_x'$/);
  refused(await call('PUT', '/routes/v2', { uri: '/v', upstream, plugins: { 'proxy-rewrite': { uri: '/to/$urii' } } }), 400,
    /proxy-rewrite.*uri: unknown variable '\$urii'/);
  refused(await call('PUT', '/routes/v3', { uri: '/v', upstream, plugins: { 'http-logger': { uri: 'http://127.0.0.1:1/', log_format: { ip: '$remote_adr' } } } }), 400,
    /http-logger.*log_format\.ip: unknown variable '\$remote_adr'/);
  refused(await call('PUT', '/routes/v4', { uri: '/v', upstream, plugins: { 'proxy-rewrite': { _meta: { filter: [['arg_x', '==', '1'], ['nope', '==', 1]] } } } }), 400,
    /unknown variable 'nope'/);
  refused(await call('PUT', '/plugin_metadata/file-logger', { log_format: { at: '$time_iso8061' } }), 400,
    /log_format\.at: unknown variable '\$time_iso8061'/);
  const ok = await call('PUT', '/routes/v5', { uri: '/v', upstream, vars: [['post_arg.user.id', '==', 1]],
    plugins: { 'http-logger': { uri: 'http://127.0.0.1:1/', log_format: { ip: '$remote_addr', g: '$graphql_name', up: '$upstream_http_x_cache' } } } });
  assert.equal(ok.status, 201, ok.text);
});

test('a body over 1.5 MiB is a 413, with or without a content-length', async () => {
  const big = JSON.stringify({ uri: '/big', upstream, desc: 'x'.repeat(2 * 1024 * 1024) });
  refused(await call('PUT', '/routes/big', undefined, { raw: big, headers: { 'content-type': 'application/json' } }), 413);
  const chunked = await request(`${gw.adminUrl}/routes/big`, {
    method: 'PUT',
    headers: { 'x-api-key': gw.adminKey, 'content-type': 'application/json' },
    body: Readable.from((function* () { for (let i = 0; i < 40; i++) yield Buffer.alloc(64 * 1024, 0x61); })()),
  });
  assert.equal(chunked.statusCode, 413);
  assert.match(await chunked.body.text(), /error_msg/);
  // the listener is still healthy afterwards
  assert.equal((await call('GET', '/routes')).status, 200);
});

test('ids with path characters, dot segments or outside the id pattern are 400s', async () => {
  for (const id of ['a%2Fb', 'a%20b', 'x'.repeat(65), '%C3%A9', 'a%ZZ']) {
    refused(await call('PUT', `/routes/${id}`, { uri: '/x', upstream }), 400);
    refused(await call('GET', `/routes/${id}`), 400);
  }
  // sent raw: URL parsers in clients resolve dot segments (also %2E%2E) before sending
  for (const path of ['/apisix/admin/routes/..', '/apisix/admin/routes/.', '/apisix/admin/routes/a/../b',
    '/apisix/admin/routes/%2E%2E', '/apisix/admin/routes/..%2F..%2Fetc']) {
    const raw = await rawRequest(adminPort(),
      `PUT ${path} HTTP/1.1\r\nHost: x\r\nX-API-KEY: ${gw.adminKey}\r\nContent-Type: application/json\r\n`
      + 'Content-Length: 2\r\nConnection: close\r\n\r\n{}');
    assert.match(raw, /^HTTP\/1\.1 4\d\d /, `${path}: ${raw.split('\r\n')[0]}`);
  }
});

test('methods outside the table are 405s', async () => {
  refused(await call('POST', '/consumers', { username: 'x' }), 405, /not supported `POST` method for consumer/);
  refused(await call('PATCH', '/plugin_metadata/x', {}), 405);
  refused(await call('POST', '/global_rules', { plugins: {} }), 405);
});

test('two parallel PUTs to one id leave one valid object at the newest revision', async () => {
  const [a, b] = await Promise.all([
    call('PUT', '/routes/race', { uri: '/race/a', upstream }),
    call('PUT', '/routes/race', { uri: '/race/b', upstream }),
  ]);
  assert.deepEqual([a.status, b.status].sort(), [200, 201]);
  const last = a.body.modifiedIndex > b.body.modifiedIndex ? a : b;
  const got = await call('GET', '/routes/race');
  assert.equal(got.body.modifiedIndex, last.body.modifiedIndex);
  assert.deepEqual(got.body.value, last.body.value);
});

test('parallel PATCHes of one object lose no update', async () => {
  assert.equal((await call('PUT', '/routes/patchy', { uri: '/patchy', upstream })).status, 201);
  const replies = await Promise.all(Array.from({ length: 20 }, (_, i) =>
    call('PATCH', '/routes/patchy', { labels: { [`k${i}`]: `v${i}` } })));
  for (const r of replies) assert.equal(r.status, 200, r.text);
  const got = await call('GET', '/routes/patchy');
  assert.equal(Object.keys(got.body.value.labels).length, 20);
});

test('malformed paths and unknown prefixes are 4xx', async () => {
  refused(await call('GET', '//routes'), 400);
  const other = await request(gw.adminUrl.replace('/apisix/admin', '/elsewhere'), { headers: { 'x-api-key': gw.adminKey } });
  assert.equal(other.statusCode, 404);
  await other.body.text();
});

test('CR or LF in a configured header name or value is a 400 naming the field, on every plugin that sets headers', async () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['proxy-rewrite', { headers: { set: { 'X-A': 'a\r\nInjected: 1' } } }, /plugin proxy-rewrite err: property "headers\.set\.X-A" validation failed/],
    ['proxy-rewrite', { headers: { add: { 'X\nB': 'v' } } }, /plugin proxy-rewrite err: property "headers\.add" validation failed: invalid property name/],
    ['proxy-rewrite', { headers: { 'X-A': 'a\nb' } }, /plugin proxy-rewrite err: property "headers\.X-A" validation failed/],
    ['proxy-rewrite', { host: 'a.test\r\nX: y' }, /plugin proxy-rewrite err: property "host" validation failed/],
    ['response-rewrite', { headers: { set: { 'X-A': 'a\r\nb' } } }, /plugin response-rewrite err: property "headers\.set\.X-A" validation failed/],
    ['response-rewrite', { headers: { 'X-A': 'a\r\nb' } }, /plugin response-rewrite err: property "headers\.X-A" validation failed/],
    ['response-rewrite', { headers: { add: ['X-A: a\r\nX-B: b'] } }, /plugin response-rewrite err: property "headers\.add" validation failed/],
    ['mocking', { response_example: 'x', response_headers: { 'X-A': 'a\nb' } }, /plugin mocking err: property "response_headers\.X-A"/],
  ];
  for (const [name, conf, msg] of cases) {
    refused(await call('PUT', '/routes/crlf', { uri: '/crlf', upstream, plugins: { [name]: conf } }), 400, msg);
  }
  refused(await call('PUT', '/global_rules/crlf', { plugins: { 'response-rewrite': { headers: { set: { 'X-A': '\r' } } } } }), 400,
    /headers\.set\.X-A/);
  refused(await call('PUT', '/plugin_configs/crlf', { plugins: { 'request-id': { header_name: 'X-Id\r\n' } } }), 400, /header_name/);
  assert.equal((await call('GET', '/routes/crlf')).status, 404);
});
