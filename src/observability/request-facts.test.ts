import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isoLocal, nginxLocal, requestLength } from './request-facts.js';

type Parts = Parameters<typeof requestLength>[0];
function req(over: Partial<Parts>): Parts {
  return { method: 'GET', url: '/a?b=1', rawHeaders: [], headers: {}, ...over };
}

test('request_length: the bytes the HTTP layer read for the request, when it counted them', () => {
  assert.equal(requestLength(req({ bytesRead: 130 })), 130);
});

test('request_length of a request built from parts: request line, headers and the declared body', () => {
  const head = 'GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n';
  assert.equal(requestLength(req({ rawHeaders: ['Host', 'x'] })), Buffer.byteLength(head));
  const post = req({ method: 'POST', rawHeaders: ['Host', 'x', 'Content-Length', '5'], headers: { 'content-length': '5' } });
  assert.equal(requestLength(post), Buffer.byteLength('POST /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n') + 5);
});

test('nginx time formats', () => {
  const d = new Date(2024, 4, 1, 12, 3, 4);
  assert.match(isoLocal(d), /^2024-05-01T12:03:04[+-]\d\d:\d\d$/);
  assert.match(nginxLocal(d), /^01\/May\/2024:12:03:04 [+-]\d{4}$/);
});
