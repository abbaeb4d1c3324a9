import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHUNKED, parseResponseHead, UNTIL_CLOSE, type ResponseHead } from './response-head.js';

const MAX = 64 * 1024;

function ok(text: string): { head: ResponseHead; consumed: number } {
  const r = parseResponseHead(Buffer.from(text, 'latin1'), MAX);
  assert.ok(r !== undefined, 'complete');
  assert.ok(r.ok, r.ok ? '' : r.reason);
  return r;
}

function refused(text: string, reason: RegExp): void {
  const r = parseResponseHead(Buffer.from(text, 'latin1'), MAX);
  assert.ok(r !== undefined && !r.ok, `refused: ${JSON.stringify(text)}`);
  assert.match(r.reason, reason);
}

test('status line, headers in order with their case, values trimmed, consumed up to the blank line', () => {
  const text = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A:  v1 \t\r\nx-a: v2\r\nContent-Length: 5\r\n\r\nhello';
  const { head, consumed } = ok(text);
  assert.equal(head.status, 200);
  assert.equal(head.reason, 'OK');
  assert.equal(head.versionMinor, 1);
  assert.deepEqual(head.rawHeaders, ['Content-Type', 'text/plain', 'X-A', 'v1', 'x-a', 'v2', 'Content-Length', '5']);
  assert.equal(head.bodyLength, 5);
  assert.equal(head.keepAlive, true);
  assert.equal(consumed, text.length - 5);
});

test('a reason phrase may be empty or absent, and may hold spaces and obs-text', () => {
  assert.equal(ok('HTTP/1.1 204 \r\n\r\n').head.reason, '');
  assert.equal(ok('HTTP/1.1 204\r\n\r\n').head.reason, '');
  assert.equal(ok('HTTP/1.1 404 Not  Found \xe9\r\n\r\n').head.reason, 'Not  Found \xe9');
  assert.equal(ok('HTTP/1.1 200 OK\r\nX-Empty:\r\n\r\n').head.rawHeaders[1], '');
});

test('framing: chunked, Content-Length lists of one number, until close', () => {
  assert.equal(ok('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n').head.bodyLength, CHUNKED);
  assert.equal(ok('HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\nContent-Length: 7\r\n\r\n').head.bodyLength, 7);
  const close = ok('HTTP/1.1 200 OK\r\n\r\n').head;
  assert.equal(close.bodyLength, UNTIL_CLOSE);
  assert.equal(close.keepAlive, false, 'a body that ends with the connection ends the connection');
});

test('connection reuse: HTTP/1.1 unless close, HTTP/1.0 only with keep-alive', () => {
  assert.equal(ok('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n').head.keepAlive, false);
  assert.equal(ok('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: Keep-Alive, CLOSE\r\n\r\n').head.keepAlive, false);
  assert.equal(ok('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n').head.keepAlive, false);
  assert.equal(ok('HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n').head.keepAlive, true);
  const up = ok('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n').head;
  assert.equal(up.status, 101);
  assert.equal(up.upgrade, true);
});

test('every split of a head is incomplete until the blank line, then complete', () => {
  const text = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Long: ' + 'v'.repeat(40) + '\r\n\r\n';
  const full = Buffer.from(text, 'latin1');
  for (let n = 0; n < full.length; n++) {
    assert.equal(parseResponseHead(full.subarray(0, n), MAX), undefined, `prefix of ${n} bytes`);
  }
  assert.ok(parseResponseHead(full, MAX)?.ok);
});

test('what could let one response be read as two is refused', () => {
  refused('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n', /both Content-Length and Transfer-Encoding/);
  refused('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n', /conflicting Content-Length/);
  refused('HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', /invalid Content-Length/);
  refused('HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n', /invalid Content-Length/);
  refused('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', /transfer coding other than chunked/);
  refused('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', /transfer coding other than chunked/);
  refused('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n', /chunked applied more than once/);
  refused('HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n', /obsolete line folding/);
  refused('HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n', /whitespace before colon/);
  refused('HTTP/1.1 200 OK\nX-A: 1\r\n\r\n', /bare LF|invalid status line/);
  refused('HTTP/1.1 200 OK\r\nX-A: 1\n\r\n', /bare LF/);
  refused('HTTP/1.1 200 OK\r\nX-A: 1\rX-B: 2\r\n\r\n', /bare CR/);
  refused('HTTP/1.1 200 OK\r\nX-A: a\0b\r\n\r\n', /invalid header value/);
  refused('HTTP/1.1 200 OK\r\nX(A): 1\r\n\r\n', /invalid header name/);
});

test('status lines other than HTTP/1.x with a three-digit code are refused, as soon as the bytes show it', () => {
  refused('HTTP/2.0 200 OK\r\n\r\n', /invalid status line/);
  refused('HTTP/1.1 20 OK\r\n\r\n', /invalid status code/);
  refused('HTTP/1.1 099 OK\r\n\r\n', /invalid status code/);
  refused('HTTP/1.1 2000 OK\r\n\r\n', /invalid status line/);
  refused('ICY 200 OK\r\n\r\n', /invalid status line/);
  refused('HTTX', /invalid status line/);
  refused('HTTP/1.1 2x', /invalid status code/);
});

test('a head over the size limit is refused; under it, an unfinished one is only incomplete', () => {
  const big = Buffer.from('HTTP/1.1 200 OK\r\nX-Big: ' + 'a'.repeat(200), 'latin1');
  assert.equal(parseResponseHead(big, 1024), undefined);
  const r = parseResponseHead(big, 100);
  assert.ok(r !== undefined && !r.ok);
  assert.match(r.reason, /too large/);
});
