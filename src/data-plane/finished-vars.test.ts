import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isoLocal, nginxLocal, requestLength } from './finished-vars.js';

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

test('every registered response variable resolves once a request was proxied', async () => {
  const { FINISHED_VARS, finishedVar } = await import('./finished-vars.js');
  const { RESPONSE_VARIABLES } = await import('../core/expr/variables.js');
  const ex = {
      upstreamNode: { host: '127.0.0.1', port: 8080 }, upstreamStatus: 200, upstreamMs: 12.4, upstreamHeaderMs: 3.2,
      upstreamBodyBytes: 42, upstreamUri: '/up?x=1', upstreamHostSent: 'backend.test', startedAt: performance.now() - 20,
      upstreamHeaders: ['X-Cache', 'HIT', 'Set-Cookie', 'sid=abc; Path=/', 'x-cache', 'MISS'],
      req: { method: 'GET', url: '/a', rawHeaders: [], headers: {}, bytesRead: 80, complete: true },
      res: { bytesSent: 200, bodyBytes: 42 },
      route: { conf: { uri: '/a', hosts: ['a.test'] }, upstream: { conf: {} } },
      vars: { facts: { path: '/a', host: 'a.test' } },
      plugins: { respondedBy: 'key-auth' }, grpcStatus: '0', grpcMessage: 'OK',
  } as never;
  const response = { header: (n: string) => (n === 'content-type' ? 'text/plain' : undefined) } as never;
  const missing = RESPONSE_VARIABLES.filter((name) => name !== 'status' && FINISHED_VARS.get(name)!(ex) === undefined);
  assert.deepEqual(missing, []);
  assert.equal(finishedVar(ex, 'upstream_http_x_cache', response), 'HIT, MISS');
  assert.equal(finishedVar(ex, 'upstream_cookie_sid', response), 'abc');
  assert.equal(finishedVar(ex, 'upstream_cookie_other', response), undefined);
  assert.equal(finishedVar(ex, 'sent_http_content_type', response), 'text/plain');
  assert.equal(finishedVar(ex, 'upstream_scheme', response), 'http');
  assert.equal(finishedVar(ex, 'upstream_header_time', response), 0.003);
});
