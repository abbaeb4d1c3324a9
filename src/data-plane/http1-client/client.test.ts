import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Readable } from 'node:stream';
import { NodePool, type NodePoolSettings } from './pool.js';
import type { ResponseHandler, UpstreamRequest } from './connection.js';

// The upstream client against raw TCP servers on loopback, byte for byte: what it writes,
// how it reads every framing, when it reuses a connection and when it must not.

const cleanups: (() => void)[] = [];
after(() => { for (const c of cleanups) c(); });

interface Raw {
  port: number;
  /** Every byte each accepted connection sent, by connection. */
  received: string[];
  accepted: () => number;
  open: () => number;
}

/** A server that answers each connection's data with `answer(text so far, socket, index)`. */
async function rawServer(answer: (seen: string, socket: net.Socket, index: number) => void): Promise<Raw> {
  const received: string[] = [];
  let open = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    const index = received.push('') - 1;
    open++;
    sockets.add(socket);
    socket.on('close', () => { open--; sockets.delete(socket); });
    socket.on('error', () => undefined);
    socket.on('data', (d) => {
      received[index] += d.toString('latin1');
      answer(received[index]!, socket, index);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => { for (const s of sockets) s.destroy(); server.close(); });
  return { port: (server.address() as net.AddressInfo).port, received, accepted: () => received.length, open: () => open };
}

/** Answers every complete request head (no bodies) with `response`, keeping the connection. */
function eachRequest(response: string | ((n: number) => string)): (seen: string, socket: net.Socket) => void {
  const answered = new WeakMap<net.Socket, number>();
  return (seen, socket) => {
    const heads = seen.split('\r\n\r\n').length - 1;
    let done = answered.get(socket) ?? 0;
    for (; done < heads; done++) socket.write(typeof response === 'string' ? response : response(done));
    answered.set(socket, heads);
  };
}

const SETTINGS: NodePoolSettings = { tls: false, connectTimeoutMs: 2000, size: 4, idleTimeoutMs: 10_000, maxRequests: 100, verifyTls: false };

function pool(port: number, s: Partial<NodePoolSettings> = {}): NodePool {
  const p = new NodePool('127.0.0.1', port, { ...SETTINGS, ...s });
  cleanups.push(() => { void p.close(); });
  return p;
}

interface Outcome { status: number; reason: string; headers: string[]; body: string; error?: Error & { code?: string } }

/** Sends one request and collects the answer (or the error). */
function send(p: NodePool, req: Partial<UpstreamRequest> = {}, hooks: Partial<ResponseHandler> = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const out: Outcome = { status: 0, reason: '', headers: [], body: '' };
    const chunks: Buffer[] = [];
    p.dispatch({ method: 'GET', path: '/', headers: ['host', 'up.test'], body: null, readTimeoutMs: 2000, ...req }, {
      onConnect: hooks.onConnect ?? (() => undefined),
      onHeaders(status, headers, resume, reason) {
        Object.assign(out, { status, headers, reason });
        return hooks.onHeaders?.(status, headers, resume, reason) ?? true;
      },
      onData(chunk) {
        chunks.push(Buffer.from(chunk));
        return hooks.onData?.(chunk) ?? true;
      },
      onComplete() { out.body = Buffer.concat(chunks).toString('latin1'); resolve(out); },
      onError(err) { out.error = err; out.body = Buffer.concat(chunks).toString('latin1'); resolve(out); },
      onUpgrade: hooks.onUpgrade,
    });
  });
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

test('writes the request line and headers as given; a Buffer body goes with its Content-Length; keep-alive reuses the connection', async () => {
  const s = await rawServer(eachRequest(OK));
  const p = pool(s.port);
  const a = await send(p, { method: 'POST', path: '/a?b=1', headers: ['host', 'up.test', 'X-Case', 'Kept'], body: Buffer.from('hello') });
  assert.equal(a.status, 200);
  assert.equal(a.body, 'ok');
  const b = await send(p, { path: '/next' });
  assert.equal(b.body, 'ok');
  assert.equal(s.accepted(), 1, 'one connection for both');
  assert.equal(s.received[0], 'POST /a?b=1 HTTP/1.1\r\nhost: up.test\r\nX-Case: Kept\r\ncontent-length: 5\r\n\r\nhello' +
    'GET /next HTTP/1.1\r\nhost: up.test\r\n\r\n');
});

test('an empty POST says Content-Length: 0; a streamed body keeps its declared length or goes chunked', async () => {
  const s = await rawServer((seen, socket) => {
    if (seen.endsWith('\r\n\r\n') || seen.endsWith('abcdef')) socket.end(OK);
  });
  const p = pool(s.port, { maxRequests: 1 });
  await send(p, { method: 'POST' });
  assert.match(s.received[0]!, /^POST \/ HTTP\/1\.1\r\nhost: up\.test\r\ncontent-length: 0\r\nconnection: close\r\n\r\n$/);
  await send(p, { method: 'POST', headers: ['host', 'h', 'Content-Length', '0'] });
  assert.equal(s.received[1], 'POST / HTTP/1.1\r\nhost: h\r\nContent-Length: 0\r\nconnection: close\r\n\r\n', 'declared once, not twice');
  await send(p, { method: 'PUT', headers: ['host', 'h', 'Content-Length', '6'], body: Readable.from([Buffer.from('abc'), Buffer.from('def')]) });
  assert.equal(s.received[2], 'PUT / HTTP/1.1\r\nhost: h\r\nContent-Length: 6\r\nconnection: close\r\n\r\nabcdef');
  await send(p, { method: 'PUT', headers: ['host', 'h'], body: (async function* () { yield Buffer.from('abc'); yield Buffer.from('de'); })() });
  assert.equal(s.received[3], 'PUT / HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n');
});

test('reads chunked, Content-Length and close-delimited bodies, however the bytes are split', async () => {
  const bodies = [
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n',
    'HTTP/1.1 201 Created\r\ncontent-length: 11\r\n\r\nhello world',
    'HTTP/1.1 200 OK\r\n\r\nhello world',
  ];
  for (const [k, response] of bodies.entries()) {
    const s = await rawServer((seen, socket) => {
      if (!seen.endsWith('\r\n\r\n')) return;
      // one byte per write, with the socket's Nagle off: the client sees many small reads
      socket.setNoDelay(true);
      let i = 0;
      const next = (): void => {
        if (i < response.length) socket.write(response[i++]!, 'latin1', next);
        else if (k === 2) socket.end();
      };
      next();
    });
    const r = await send(pool(s.port));
    assert.equal(r.error, undefined, String(r.error));
    assert.equal(r.body, 'hello world', `response ${k}`);
  }
});

test('HEAD, 204 and 304 have no body whatever their headers say; 1xx interim answers are skipped', async () => {
  const s = await rawServer(eachRequest((n) => [
    'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n',
    'HTTP/1.1 204 No Content\r\nContent-Length: 100\r\n\r\n',
    'HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n',
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  ][n]!));
  const p = pool(s.port);
  assert.equal((await send(p, { method: 'HEAD' })).body, '');
  assert.equal((await send(p)).status, 204);
  assert.equal((await send(p)).status, 304);
  const r = await send(p);
  assert.equal(r.status, 200);
  assert.equal(r.body, 'ok');
  assert.equal(s.accepted(), 1, 'each answer ended where it should: the connection stayed usable');
});

test('a connection is not reused after Connection: close, an HTTP/1.0 answer, extra bytes, or maxRequests', async () => {
  const answers = [
    'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok',
    'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok',
    'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA',
  ];
  for (const answer of answers) {
    const s = await rawServer(eachRequest(answer));
    const p = pool(s.port);
    assert.equal((await send(p)).body, 'ok');
    assert.equal((await send(p)).body, 'ok');
    assert.equal(s.accepted(), 2, JSON.stringify(answer));
  }
  const s = await rawServer(eachRequest(OK));
  const p = pool(s.port, { maxRequests: 2 });
  for (let i = 0; i < 4; i++) await send(p);
  assert.equal(s.accepted(), 2);
  assert.match(s.received[0]!, /GET \/ HTTP\/1\.1\r\nhost: up\.test\r\n\r\nGET \/ HTTP\/1\.1\r\nhost: up\.test\r\nconnection: close\r\n\r\n$/);
});

test('size is the idle connections kept: a burst opens what it needs, the extra ones close after', async () => {
  const s = await rawServer((seen, socket) => { if (seen.endsWith('\r\n\r\n')) setTimeout(() => socket.write(OK), 30); });
  const p = pool(s.port, { size: 2 });
  const all = await Promise.all(Array.from({ length: 6 }, () => send(p)));
  for (const r of all) assert.equal(r.body, 'ok');
  assert.equal(s.accepted(), 6);
  for (let i = 0; i < 50 && s.open() > 2; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(s.open(), 2);
  assert.equal(p.busy, 0);
});

test('a kept connection the upstream closes as it is reused: the request goes again on a new one, once', async () => {
  let served = 0;
  const s = await rawServer((seen, socket) => {
    if (!seen.endsWith('\r\n\r\n')) return;
    // the first connection answers once, then drops the second request unanswered
    if (served++ === 1) socket.destroy();
    else socket.write(OK);
  });
  const p = pool(s.port);
  assert.equal((await send(p)).body, 'ok');
  const again = await send(p);
  assert.equal(again.error, undefined, String(again.error));
  assert.equal(again.body, 'ok');
  assert.equal(s.accepted(), 2);
  // a streamed body cannot be sent twice: the failure is the caller's to handle
  const t = await rawServer((seen, socket) => { if (seen.includes('\r\n\r\n')) socket.destroy(); });
  const q = pool(t.port);
  const streamed = await send(q, { method: 'POST', body: Readable.from([Buffer.from('x')]) });
  assert.equal(streamed.error?.code, 'GH_UPSTREAM_CLOSED');
  assert.equal(t.accepted(), 1);
});

test('malformed answers are GH_UPSTREAM_BAD_RESPONSE; silence past the read timeout is GH_UPSTREAM_READ_TIMEOUT', async () => {
  const bad = await rawServer(eachRequest('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n'));
  const r = await send(pool(bad.port));
  assert.equal(r.error?.code, 'GH_UPSTREAM_BAD_RESPONSE');
  assert.match(r.error!.message, /both Content-Length and Transfer-Encoding/);
  const badChunk = await rawServer(eachRequest('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'));
  assert.equal((await send(pool(badChunk.port))).error?.code, 'GH_UPSTREAM_BAD_RESPONSE');
  const short = await rawServer((seen, socket) => { if (seen.endsWith('\r\n\r\n')) socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'); });
  const cut = await send(pool(short.port));
  assert.equal(cut.error?.code, 'GH_UPSTREAM_CLOSED');
  assert.equal(cut.body, 'abc');
  const silent = await rawServer(() => undefined);
  const started = Date.now();
  const t = await send(pool(silent.port), { readTimeoutMs: 150 });
  assert.equal(t.error?.code, 'GH_UPSTREAM_READ_TIMEOUT');
  assert.ok(Date.now() - started >= 140);
});

test('a request HTTP/1.1 cannot carry is refused before a byte is written', async () => {
  const s = await rawServer(eachRequest(OK));
  const p = pool(s.port);
  assert.equal((await send(p, { path: '/a b' })).error?.code, 'GH_UPSTREAM_INVALID_REQUEST');
  assert.equal((await send(p, { path: '/a\r\nX-Injected: 1' })).error?.code, 'GH_UPSTREAM_INVALID_REQUEST');
  assert.equal((await send(p, { method: 'GE T' })).error?.code, 'GH_UPSTREAM_INVALID_REQUEST');
  assert.equal((await send(p, { headers: ['host', 'a\r\nb'] })).error?.code, 'GH_UPSTREAM_INVALID_REQUEST');
  assert.equal(s.received.join(''), '');
});

test('body pieces kept by reference stay intact while other connections read: small, large, chunked, split heads', async () => {
  // each request names its body: /<byte>/<size>/<framing>; its bytes are all <byte>, so a piece
  // overwritten by a later read (of any connection) shows as a foreign byte
  const s = await rawServer((seen, socket) => {
    const heads = [...seen.matchAll(/GET \/(\d+)\/(\d+)\/(\w+) /g)];
    const done = (socket as net.Socket & { done?: number }).done ?? 0;
    for (const m of heads.slice(done)) {
      const body = Buffer.alloc(Number(m[2]), Number(m[1]));
      socket.setNoDelay(true);
      if (m[3] === 'chunked') {
        socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
        for (let i = 0; i < body.length; i += 10_000) {
          const piece = body.subarray(i, i + 10_000);
          socket.write(`${piece.length.toString(16)}\r\n`);
          socket.write(piece);
          socket.write('\r\n');
        }
        socket.write('0\r\n\r\n');
      } else if (m[3] === 'split') {
        // the head in two reads: the first part must outlive the read it arrived in
        socket.write('HTTP/1.1 200 OK\r\nContent-Le');
        setTimeout(() => socket.write(Buffer.concat([Buffer.from(`ngth: ${body.length}\r\n\r\n`), body])), 20);
      } else {
        socket.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body]));
      }
    }
    (socket as net.Socket & { done?: number }).done = heads.length;
  });
  const p = pool(s.port, { size: 8 });
  const kept = (path: string): Promise<Buffer[]> => new Promise((resolve, reject) => {
    const pieces: Buffer[] = [];
    p.dispatch({ method: 'GET', path, headers: ['host', 'up.test'], body: null, readTimeoutMs: 5000 }, {
      onConnect: () => undefined,
      onHeaders: () => true,
      onData(chunk) { pieces.push(chunk); return true; },
      onComplete: () => resolve(pieces),
      onError: reject,
    });
  });
  const sizes = [40, 3000, 9000, 70_000, 300_000];
  const framings = ['length', 'chunked', 'split'];
  const all: { byte: number; size: number; pieces: Promise<Buffer[]> }[] = [];
  for (let wave = 0; wave < 3; wave++) {
    const inWave: Promise<Buffer[]>[] = [];
    for (const [i, size] of sizes.entries()) {
      for (const [j, framing] of framings.entries()) {
        const byte = 1 + ((wave * 50 + i * 5 + j) % 250);
        const pieces = kept(`/${byte}/${size}/${framing}`);
        all.push({ byte, size, pieces });
        inWave.push(pieces);
      }
    }
    await Promise.all(inWave);
  }
  for (const { byte, size, pieces } of all) {
    const body = Buffer.concat(await pieces);
    assert.equal(body.length, size);
    assert.ok(body.every((b) => b === byte), `a body of ${size} bytes of ${byte} holds foreign bytes`);
  }
});

test('backpressure: a handler that returns false stops the reads until it resumes', async () => {
  const big = 'x'.repeat(4 * 1024 * 1024);
  const s = await rawServer(eachRequest(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n${big}`));
  let resume: (() => void) | undefined;
  let pausedAt = -1;
  let got = 0;
  const r = await send(pool(s.port), {}, {
    onHeaders(_s, _h, res) { resume = res; return true; },
    onData(chunk) {
      got += chunk.length;
      if (pausedAt === -1) {
        pausedAt = got;
        setTimeout(() => {
          // nothing more arrived while paused
          assert.equal(got, pausedAt);
          resume!();
        }, 100);
        return false;
      }
      return true;
    },
  });
  assert.equal(r.body.length, big.length);
});

test('abort gives the exchange up: onError with the reason, the connection closed', async () => {
  const s = await rawServer(() => undefined);
  const p = pool(s.port);
  const reason = Object.assign(new Error('client went away'), { code: 'X_GONE' });
  const r = await send(p, {}, { onConnect(abort) { setTimeout(() => abort(reason), 50); } });
  assert.equal(r.error, reason);
  for (let i = 0; i < 50 && s.open() > 0; i++) await new Promise((res) => setTimeout(res, 20));
  assert.equal(s.open(), 0);
});

test('an accepted upgrade hands over the socket with the bytes that followed the 101; a refused one is an answer', async () => {
  const s = await rawServer((seen, socket) => {
    if (seen.endsWith('\r\n\r\n')) socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nfirst-frame');
  });
  const p = pool(s.port);
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    p.dispatch({ method: 'GET', path: '/ws', headers: ['host', 'h'], body: null, readTimeoutMs: 2000, upgrade: 'websocket' }, {
      onConnect() {}, onHeaders() { return true; }, onData() { return true; }, onComplete() {},
      onError: reject,
      onUpgrade(status, headers, sock) {
        assert.equal(status, 101);
        assert.deepEqual(headers, ['Connection', 'Upgrade', 'Upgrade', 'websocket']);
        resolve(sock as net.Socket);
      },
    });
  });
  // handed over paused (the caller may attach to it later): the bytes wait for it
  await new Promise((r) => setTimeout(r, 50));
  const first = await new Promise<string>((resolve) => { socket.once('data', (d) => resolve(d.toString())); socket.resume(); });
  assert.equal(first, 'first-frame');
  socket.destroy();
  assert.match(s.received[0]!, /^GET \/ws HTTP\/1\.1\r\nhost: h\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n$/);
  // a refused upgrade is an ordinary answer (not kept: the next request opens a new connection)
  const no = await rawServer(eachRequest('HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope'));
  const q = pool(no.port);
  const refused = await send(q, { upgrade: 'websocket' });
  assert.equal(refused.error, undefined);
  assert.equal(refused.status, 403);
  assert.equal(refused.body, 'nope');
  await send(q);
  assert.equal(no.accepted(), 2);
  // a 101 to a request that asked for no upgrade is refused
  const unasked = await rawServer(eachRequest('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'));
  assert.equal((await send(pool(unasked.port))).error?.code, 'GH_UPSTREAM_BAD_RESPONSE');
});

test('an idle connection past idle_timeout closes', async () => {
  const s = await rawServer(eachRequest(OK));
  const p = pool(s.port, { idleTimeoutMs: 100 });
  await send(p);
  assert.equal(s.open(), 1);
  for (let i = 0; i < 50 && s.open() > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(s.open(), 0);
  assert.equal((await send(p)).body, 'ok', 'the next request opens a new one');
  assert.equal(s.accepted(), 2);
});
