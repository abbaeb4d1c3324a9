import { test } from 'node:test';
import assert from 'node:assert/strict';
import { http2RequestHead } from './request-head.js';

test('pseudo-headers become method, target and Host; the fields keep their order', () => {
  const head = http2RequestHead([':method', 'POST', ':scheme', 'https', ':path', '/a?b=1', ':authority', 'api.test:8443', 'x-one', '1', 'accept', '*/*'])!;
  assert.equal(head.method, 'POST');
  assert.equal(head.url, '/a?b=1');
  assert.equal(head.headers.host, 'api.test:8443');
  assert.deepEqual(head.rawHeaders, ['host', 'api.test:8443', 'x-one', '1', 'accept', '*/*']);
  assert.equal(head.headBytes, [':method', 'POST', ':scheme', 'https', ':path', '/a?b=1', ':authority', 'api.test:8443', 'x-one', '1', 'accept', '*/*']
    .reduce((n, s) => n + s.length, 0) + 6 * 32);
});

test(':authority wins over a host field; host alone is used when there is no authority', () => {
  assert.equal(http2RequestHead([':method', 'GET', ':path', '/', ':authority', 'a.test', 'host', 'b.test'])!.headers.host, 'a.test');
  const hostOnly = http2RequestHead([':method', 'GET', ':path', '/', 'host', 'b.test'])!;
  assert.equal(hostOnly.headers.host, 'b.test');
  assert.deepEqual(hostOnly.rawHeaders, ['host', 'b.test']);
});

test('split cookie fields are joined with "; " for the HTTP/1.1 upstream; other repeats as node joins them', () => {
  const head = http2RequestHead([':method', 'GET', ':path', '/', 'cookie', 'a=1', 'x-r', '1', 'cookie', 'b=2', 'x-r', '2'])!;
  assert.equal(head.headers.cookie, 'a=1; b=2');
  assert.equal(head.headers['x-r'], '1, 2');
  assert.deepEqual(head.rawHeaders, ['x-r', '1', 'x-r', '2', 'cookie', 'a=1; b=2']);
});

test('CONNECT (plain or extended) and a request without :path are not served here', () => {
  assert.equal(http2RequestHead([':method', 'CONNECT', ':authority', 'example.com:443']), undefined);
  assert.equal(http2RequestHead([':method', 'CONNECT', ':protocol', 'websocket', ':path', '/chat', ':authority', 'a']), undefined);
  assert.equal(http2RequestHead([':method', 'GET', ':authority', 'a']), undefined);
});
