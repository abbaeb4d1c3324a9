import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { rawRequest } from '../../helpers/http.js';

// The data plane's own HTTP/1.1 layer, spoken to over raw sockets: framing, keep-alive,
// pipelining, HTTP/1.0, HEAD, 100-continue, timeouts, and the requests it must refuse.

let gw: Gateway;
let up: TestUpstream;

before(async () => {
  up = await startUpstream('a');
  gw = await startGateway({
    node: { client: { max_header_size: 4096, max_body_size: 4096, header_timeout: 2, keepalive_timeout: 1, request_timeout: 1 } },
    config: {
      routes: [
        { id: 'all', uri: '/*', upstream: { nodes: { [`127.0.0.1:${up.port}`]: 1 } } },
        { id: 'local', uri: '/local', plugins: { mocking: { response_status: 401, response_example: 'no' } } },
        {
          id: 'by-host', uri: '/hosted', hosts: ['abs.test'], upstream: { nodes: { [`127.0.0.1:${up.port}`]: 1 } },
          plugins: { 'proxy-rewrite': { headers: { set: { 'X-Seen-Host': '$host', 'X-Seen-Http-Host': '$http_host' } } } },
        },
      ],
    },
  });
});

after(async () => {
  await gw.stop();
  await up.close();
});

/** A socket that collects what the gateway sends, with a way to wait for a pattern. */
function client(): { socket: net.Socket; text: () => string; waitFor: (re: RegExp, ms?: number) => Promise<string>; closed: Promise<void> } {
  const socket = net.connect(gw.httpPort, '127.0.0.1');
  let out = '';
  const waiters: { re: RegExp; resolve: (s: string) => void }[] = [];
  socket.on('data', (c) => {
    out += c.toString('latin1');
    for (let i = waiters.length - 1; i >= 0; i--) if (waiters[i]!.re.test(out)) waiters.splice(i, 1)[0]!.resolve(out);
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((r) => socket.on('close', () => r()));
  return {
    socket,
    text: () => out,
    waitFor: (re, ms = 3000) => new Promise((resolve, reject) => {
      if (re.test(out)) return resolve(out);
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${re}; got:\n${out}`)), ms);
      waiters.push({ re, resolve: (s) => { clearTimeout(t); resolve(s); } });
    }),
    closed,
  };
}

const count = (s: string, re: RegExp): number => (s.match(re) ?? []).length;

test('pipelined requests in one write are answered in order on one connection', async () => {
  const c = client();
  c.socket.write('GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /local HTTP/1.1\r\nHost: x\r\n\r\nGET /three HTTP/1.1\r\nHost: x\r\n\r\n');
  const out = await c.waitFor(/"url":"\/three"[^]*$/);
  assert.equal(count(out, /HTTP\/1\.1 \d{3} /g), 3);
  const one = out.indexOf('"url":"/one"'), local = out.indexOf('HTTP/1.1 401'), three = out.indexOf('"url":"/three"');
  assert.ok(one >= 0 && local > one && three > local, out);
  c.socket.destroy();
});

test('keep-alive: many sequential requests share one connection, each framed by Content-Length', async () => {
  const c = client();
  for (let i = 0; i < 20; i++) {
    c.socket.write(`GET /n${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await c.waitFor(new RegExp(`"url":"/n${i}"`));
  }
  assert.equal(count(c.text(), /^content-length: /gim), 20);
  assert.equal(count(c.text(), /^date: /gim), 20);
  c.socket.destroy();
});

test('HTTP/1.0: closed after the response unless keep-alive is asked for', async () => {
  const plain = await rawRequest(gw.httpPort, 'GET /a HTTP/1.0\r\n\r\n');
  assert.match(plain, /^HTTP\/1\.1 200 /);
  assert.match(plain, /connection: close/i);
  const c = client();
  c.socket.write('GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
  const out = await c.waitFor(/"url":"\/b"/);
  assert.match(out, /connection: keep-alive/i);
  c.socket.write('GET /c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
  await c.waitFor(/"url":"\/c"/);
  c.socket.destroy();
});

test('Connection: close from the client closes after the response', async () => {
  const out = await rawRequest(gw.httpPort, 'GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.match(out, /^HTTP\/1\.1 200 /);
  assert.match(out, /connection: close/i);
  assert.match(out, /"url":"\/bye"/);
});

test('HEAD gets the headers and no body, and the connection stays usable', async () => {
  const c = client();
  c.socket.write('HEAD /bytes/100 HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n');
  const out = await c.waitFor(/"url":"\/after"/);
  const [first] = out.split(/(?=HTTP\/1\.1 )/g);
  assert.match(first!, /^HTTP\/1\.1 200 /);
  assert.ok(!first!.includes('aaaa'), 'HEAD response carried a body');
  c.socket.destroy();
});

test('Expect: 100-continue gets an interim 100 before the body is sent', async () => {
  const c = client();
  c.socket.write('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
  await c.waitFor(/^HTTP\/1\.1 100 Continue\r\n\r\n/);
  c.socket.write('hello');
  const out = await c.waitFor(/"body":"hello"/);
  assert.match(out, /HTTP\/1\.1 200 /);
  c.socket.destroy();
});

test('a chunked upload is decoded and proxied, even split byte by byte', async () => {
  const c = client();
  const wire = 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n';
  for (const ch of wire) {
    c.socket.write(ch);
    await new Promise((r) => setImmediate(r));
  }
  const out = await c.waitFor(/"body":"hello world"/);
  assert.match(out, /^HTTP\/1\.1 200 /);
  c.socket.destroy();
});

test('an early answer to a request with a body keeps the connection for the next request', async () => {
  const c = client();
  c.socket.write('POST /local HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789GET /next HTTP/1.1\r\nHost: x\r\n\r\n');
  const out = await c.waitFor(/"url":"\/next"/);
  assert.match(out, /^HTTP\/1\.1 401 /);
  c.socket.destroy();
});

test('an idle keep-alive connection is closed after keepalive_timeout', async () => {
  const c = client();
  c.socket.write('GET /idle HTTP/1.1\r\nHost: x\r\n\r\n');
  await c.waitFor(/"url":"\/idle"/);
  const started = Date.now();
  await c.closed;
  const waited = Date.now() - started;
  assert.ok(waited >= 800 && waited < 4000, `closed after ${waited} ms`);
});

test('a body that stops arriving is cut off by request_timeout with a 408', async () => {
  const c = client();
  c.socket.write('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part');
  await c.closed;
  assert.match(c.text(), /^HTTP\/1\.1 408 /);
});

test('a chunked body over max_body_size is a 413 and the connection closes', async () => {
  const c = client();
  c.socket.write('POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
  const piece = 'x'.repeat(1000);
  for (let i = 0; i < 6 && !c.socket.destroyed; i++) c.socket.write(`3e8\r\n${piece}\r\n`);
  await c.closed;
  assert.match(c.text(), /^HTTP\/1\.1 413 /);
});

const refused: [string, string, RegExp][] = [
  ['Content-Length with Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', /^HTTP\/1\.1 400 /],
  ['two different Content-Length values', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', /^HTTP\/1\.1 400 /],
  ['a transfer coding that is not chunked', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n', /^HTTP\/1\.1 400 /],
  ['two Host headers', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', /^HTTP\/1\.1 400 /],
  ['no Host in HTTP/1.1', 'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n', /^HTTP\/1\.1 400 /],
  ['obsolete line folding', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  2\r\n\r\n', /^HTTP\/1\.1 400 /],
  ['a space before the colon', 'GET / HTTP/1.1\r\nHost : x\r\n\r\n', /^HTTP\/1\.1 400 /],
  ['a bare LF line ending', 'GET / HTTP/1.1\nHost: x\n\n', /^HTTP\/1\.1 400 /],
  ['a malformed chunk size', 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n', /^HTTP\/1\.1 400 /],
  ['CONNECT', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', /^HTTP\/1\.1 501 /],
  // the connection preface itself starts an h2c session (test/integration/http2/), or is a 505 with HTTP/2 off
  ['an HTTP/2.0 request line that is not the preface', 'GET / HTTP/2.0\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 505 /],
];

for (const [name, wire, expected] of refused) {
  test(`refused with a JSON error and a closed connection: ${name}`, async () => {
    const out = await rawRequest(gw.httpPort, wire);
    assert.match(out, expected);
    assert.match(out, /"error_msg":"/);
    assert.match(out, /connection: close/i);
  });
}

test('a bare LF in a head that arrives in pieces is refused at once, not left to header_timeout', async () => {
  const c = client();
  c.socket.write('GET /split HTTP/1.1\r\n');
  await new Promise((r) => setTimeout(r, 50));
  c.socket.write('Host: x\n\n');
  // header_timeout is 2 s here: before, the layer waited for a CRLFCRLF and then sent a 408
  await c.closed;
  assert.match(c.text(), /^HTTP\/1\.1 400 /);
  assert.match(c.text(), /bare LF/);
});

test('an equal Content-Length sent twice (or listed twice) is one length: proxied, not a 502', async () => {
  for (const lines of ['Content-Length: 5\r\nContent-Length: 5', 'Content-Length: 5, 5']) {
    const out = await rawRequest(gw.httpPort, `POST /dup-cl HTTP/1.1\r\nHost: x\r\n${lines}\r\nConnection: close\r\n\r\nhello`);
    assert.match(out, /^HTTP\/1\.1 200 /, out);
    const body = JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4)) as { body: string; headers: Record<string, string> };
    assert.equal(body.body, 'hello');
    assert.equal(body.headers['content-length'], '5');
  }
});

test('an absolute-form target routes and forwards on its authority, not the Host header', async () => {
  const out = await rawRequest(gw.httpPort, 'GET http://abs.test/hosted?x=1 HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n');
  assert.match(out, /^HTTP\/1\.1 200 /, out);
  const seen = JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4)) as { url: string; headers: Record<string, string> };
  assert.equal(seen.url, '/hosted?x=1');
  assert.equal(seen.headers.host, 'abs.test'); // pass_host: pass
  assert.equal(seen.headers['x-seen-host'], 'abs.test');
  assert.equal(seen.headers['x-seen-http-host'], 'abs.test');
  // the Host header alone does not reach the host-bound route
  const plain = await rawRequest(gw.httpPort, 'GET /hosted HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n');
  assert.doesNotMatch(JSON.parse(plain.slice(plain.indexOf('\r\n\r\n') + 4)).headers['x-seen-host'] ?? '', /abs/);
});

test('a head sent a byte at a time is parsed once complete, and answered', async () => {
  const c = client();
  const wire = 'GET /trickle HTTP/1.1\r\nHost: x\r\nX-Long: ' + 'v'.repeat(300) + '\r\n\r\n';
  for (const ch of wire) {
    c.socket.write(ch);
    await new Promise((r) => setImmediate(r));
  }
  const out = await c.waitFor(/"url":"\/trickle"/);
  assert.match(out, /^HTTP\/1\.1 200 /);
  c.socket.destroy();
});

test('a head that grows past max_header_size a byte at a time is a 431', async () => {
  const c = client();
  c.socket.write('GET / HTTP/1.1\r\nHost: x\r\nX-Big: ');
  for (let i = 0; i < 4200 && !c.socket.destroyed && !/431/.test(c.text()); i += 100) {
    c.socket.write('a'.repeat(100));
    await new Promise((r) => setImmediate(r));
  }
  await c.waitFor(/^HTTP\/1\.1 431 /);
  c.socket.destroy();
});

test('random bytes, truncated heads and bodies never take the worker down', async () => {
  let seed = 20261123;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  const pieces = ['GET ', 'POST ', '/a', ' HTTP/1.1', '\r\n', 'Host: x', 'Content-Length: 5', 'Transfer-Encoding: chunked',
    '\r\n\r\n', '5\r\nhello\r\n', '0\r\n\r\n', 'ffffffffffffffffff\r\n', ':', ' ', '\n', '\0', 'Expect: 100-continue', 'Upgrade: websocket', 'Connection: upgrade'];
  const wires: Buffer[] = [];
  for (let i = 0; i < 60; i++) {
    const parts: Buffer[] = [];
    for (let j = 0, n = 1 + rand(12); j < n; j++) {
      parts.push(rand(4) === 0 ? Buffer.from(Array.from({ length: 1 + rand(40) }, () => rand(256))) : Buffer.from(pieces[rand(pieces.length)]!, 'latin1'));
    }
    wires.push(Buffer.concat(parts));
  }
  await Promise.all(wires.map((w) => rawRequest(gw.httpPort, w, 1500)));
  const ok = await rawRequest(gw.httpPort, 'GET /still-alive HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.match(ok, /^HTTP\/1\.1 200 /);
  assert.doesNotMatch(gw.output(), /worker exited|uncaught|Unhandled/i);
});
