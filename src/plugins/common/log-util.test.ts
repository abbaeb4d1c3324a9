import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileLogFormat, customLogEntry, defaultLogEntry, parseQueryString, pickLogFormat, prepareLogCapture, ResponseBodyCapture } from './log-util.js';
import { createTestContext } from '../../../test/helpers/plugin-context.js';
import { overridePluginNodeLimits } from '../../plugin-runtime/node-limits.js';

test('log_format: a lone variable keeps its type, templates render, literals stay', () => {
  const ctx = createTestContext({ uri: '/p?x=1', routeId: 'r1', status: 204, headers: { host: 'h.example' } });
  const f = compileLogFormat({ host: '$host', code: '$status', both: '$host $request_method', braced: '${uri}', lit: 'fixed', n: 3, none: '$http_x_none' });
  assert.deepEqual(customLogEntry(f, ctx), {
    host: 'h.example', code: 204, both: 'h.example GET', braced: '/p', lit: 'fixed', n: 3, none: null, route_id: 'r1', service_id: '',
  });
});

test('log_format: a variable that does not exist is refused, naming the key and the variable', () => {
  assert.throws(() => compileLogFormat({ client: '$remote_adr' }), { message: "log_format.client: unknown variable '$remote_adr'" });
  assert.throws(() => compileLogFormat({ line: '$host ${upstream_stat}' }), { message: "log_format.line: unknown variable '$upstream_stat'" });
  assert.throws(() => pickLogFormat(undefined, { log_format: { a: '$nope' } }), { message: "plugin_metadata log_format.a: unknown variable '$nope'" });
  assert.throws(() => new ResponseBodyCapture('file-logger', { include_resp_body_expr: [['stauts', '==', 200]] }),
    { message: "failed to validate the 'include_resp_body_expr' expression: unknown variable 'stauts'" });
});

test('include_*_body add the bodies to the default entry only: a format reads the request body only for a body variable', () => {
  const both = { include_req_body: true, include_resp_body: true };
  const plain = prepareLogCapture('t', both, undefined);
  assert.ok(plain.capture !== undefined && plain.reqCapture !== undefined);
  const fromMetadata = prepareLogCapture('t', both, pickLogFormat(undefined, { log_format: { uri: '$uri' } }));
  assert.deepEqual(fromMetadata, { capture: undefined, reqCapture: undefined });
  const namesBody = prepareLogCapture('t', both, pickLogFormat({ line: '$uri $request_body' }, undefined));
  assert.equal(namesBody.capture, undefined);
  assert.ok(namesBody.reqCapture !== undefined);
  // the raw request (kafka-logger's meta_format origin) carries its body whatever the format, never the response's
  const raw = prepareLogCapture('t', both, pickLogFormat({ uri: '$uri' }, undefined), true);
  assert.equal(raw.capture, undefined);
  assert.ok(raw.reqCapture !== undefined);
  assert.equal(prepareLogCapture('t', {}, undefined).reqCapture, undefined);
  // an expression left unused because of the format is still checked
  assert.throws(() => prepareLogCapture('t', { include_resp_body: true, include_resp_body_expr: [['stauts', '==', 1]] }, pickLogFormat({ a: 1 }, undefined)),
    /include_resp_body_expr/);
});

test('the instance log_format wins over the metadata one; metadata is the fallback; none = default entry', () => {
  const md = { log_format: { from: 'metadata' } };
  const ctx = createTestContext();
  assert.deepEqual(customLogEntry(pickLogFormat({ from: 'instance' }, md)!, ctx), { from: 'instance' });
  assert.deepEqual(customLogEntry(pickLogFormat(undefined, md)!, ctx), { from: 'metadata' });
  assert.equal(pickLogFormat(undefined, undefined), undefined);
  assert.equal(pickLogFormat(undefined, { log_format: {} }), undefined);
});

test('default entry has APISIX\'s shape', () => {
  const ctx = createTestContext({
    method: 'POST', uri: '/orders?a=1&a=2&flag', headers: { host: 'shop', 'x-k': 'v' }, routeId: 'r9', serviceId: 's2',
    consumer: { username: 'jack', plugins: {} }, status: 201, responseHeaders: { 'content-type': 'text/plain' },
    vars: { scheme: 'http', server_port: 9080, query_string: 'a=1&a=2&flag', request_length: 88, bytes_sent: 150, upstream_addr: '127.0.0.1:1980', upstream_response_time: 0.002 },
  });
  const e = defaultLogEntry(ctx, 'body!') as any;
  assert.deepEqual(e.request, {
    url: 'http://shop:9080/orders?a=1&a=2&flag', uri: '/orders?a=1&a=2&flag', method: 'POST',
    headers: { host: 'shop', 'x-k': 'v' }, querystring: { a: ['1', '2'], flag: true }, size: 88,
  });
  assert.deepEqual(e.response, { status: 201, headers: { 'content-type': 'text/plain' }, size: 150, body: 'body!' });
  assert.equal(e.upstream, '127.0.0.1:1980');
  assert.equal(e.route_id, 'r9');
  assert.equal(e.service_id, 's2');
  assert.deepEqual(e.consumer, { username: 'jack' });
  assert.equal(e.client_ip, '127.0.0.1');
  assert.equal(e.upstream_latency, 2);
  assert.ok(e.latency >= 0 && e.apisix_latency >= 0);
  assert.ok(Math.abs(e.start_time - Date.now()) < 60_000);
  assert.equal(typeof e.server.hostname, 'string');
});

test('query strings parse like ngx.req.get_uri_args', () => {
  assert.deepEqual(parseQueryString(''), {});
  assert.deepEqual(parseQueryString('a=%20b&c=+d&e'), { a: ' b', c: ' d', e: true });
});

test('response body capture: up to the limit, only when the expression matches', () => {
  const cap = new ResponseBodyCapture('t', { max_resp_body_bytes: 5 });
  const ctx = createTestContext();
  cap.add(ctx, Buffer.from('abc'));
  cap.add(ctx, Buffer.from('defg'));
  assert.equal(cap.body(ctx), 'abcde');
  const only500 = new ResponseBodyCapture('t', { include_resp_body_expr: [['status', '==', 500]] });
  const ok = createTestContext({ status: 200 });
  only500.add(ok, Buffer.from('x'));
  assert.equal(only500.body(ok), undefined);
  const bad = createTestContext({ status: 500 });
  only500.add(bad, Buffer.from('boom'));
  assert.equal(only500.body(bad), 'boom');
});

test('response body capture: the node bound caps max_resp_body_bytes', () => {
  const restore = overridePluginNodeLimits({ maxBufferedBodySize: 4 });
  try {
    const cap = new ResponseBodyCapture('t', { max_resp_body_bytes: 1e12 });
    const ctx = createTestContext();
    cap.add(ctx, Buffer.from('abcdefgh'));
    assert.equal(cap.body(ctx), 'abcd');
  } finally {
    restore();
  }
});
