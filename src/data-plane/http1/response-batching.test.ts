// How many writes a response costs the socket: a streamed answer's pieces written in one
// tick leave together; a piece completing a declared Content-Length leaves at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Http1Listener } from './listener.js';
import type { HttpRequest } from './request.js';
import type { HttpResponse } from './response.js';

const EVENT = 'data: {"choices":[{"delta":{"content":"x"}}]}\n\n';

async function withListener(onRequest: (req: HttpRequest, res: HttpResponse) => void, run: (port: number, writes: () => number) => Promise<void>): Promise<void> {
  const listener = new Http1Listener({
    onRequest,
    onUpgrade: (_req, res) => { res.writeHead(400).end(); },
    errorBody: () => ({ headers: '', body: Buffer.alloc(0) }),
  }, { maxHeaderSize: 16384, maxBodySize: 0, headerTimeoutMs: 5000, keepAliveTimeoutMs: 5000, requestTimeoutMs: 0 });
  let writes = 0;
  listener.server.on('connection', (socket: net.Socket) => {
    const s = socket as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
    const write = s._write, writev = s._writev;
    s._write = (...a) => { writes++; write.apply(socket, a); };
    s._writev = (...a) => { writes++; writev.apply(socket, a); };
  });
  await new Promise<void>((resolve) => listener.server.listen(0, '127.0.0.1', resolve));
  try {
    await run((listener.server.address() as net.AddressInfo).port, () => writes);
  } finally {
    await new Promise<void>((resolve) => listener.server.close(() => resolve()));
    listener.closing = true;
  }
}

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

test('the pieces of a streamed answer written in one tick leave in one write', async () => {
  await withListener((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (let i = 0; i < 20; i++) res.write(EVENT);
    setImmediate(() => res.end());
  }, async (port, writes) => {
    const { status, body } = await get(port, '/');
    assert.equal(status, 200);
    assert.equal(body, EVENT.repeat(20));
    // the head and the 20 chunks in one write, the last chunk marker in another
    assert.ok(writes() <= 2, `${writes()} writes`);
  });
});

test('pieces written in different ticks still leave in order, backpressure intact', async () => {
  await withListener((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let n = 0;
    const next = (): void => {
      if (n === 10) { res.end(); return; }
      for (let i = 0; i < 3; i++) res.write(`data: ${n}.${i}\n\n`);
      n++;
      setImmediate(next);
    };
    next();
  }, async (port, writes) => {
    const { body } = await get(port, '/');
    const want = Array.from({ length: 10 }, (_, n) => [0, 1, 2].map((i) => `data: ${n}.${i}\n\n`).join('')).join('');
    assert.equal(body, want);
    assert.ok(writes() <= 11, `${writes()} writes: one per tick, plus the end`);
  });
});

test('a body piece completing its Content-Length leaves at once, in the head\'s write', async () => {
  await withListener((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '5' });
    res.write('hello');
    res.end();
  }, async (port, writes) => {
    const { body } = await get(port, '/');
    assert.equal(body, 'hello');
    assert.equal(writes(), 1);
  });
});

test('a Content-Length body in several pieces is batched per tick and arrives whole', async () => {
  const piece = 'y'.repeat(1000);
  await withListener((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(piece.length * 8) });
    for (let i = 0; i < 4; i++) res.write(piece);
    setImmediate(() => { for (let i = 0; i < 4; i++) res.write(piece); res.end(); });
  }, async (port, writes) => {
    const { body } = await get(port, '/');
    assert.equal(body, piece.repeat(8));
    assert.ok(writes() <= 2, `${writes()} writes`);
  });
});

test('a write reports what the socket still holds: flushed when the kernel took it all, backpressure only past the mark', async () => {
  let release: (() => void) | undefined;
  const seen: { flushed: boolean; ok: boolean }[] = [];
  await withListener((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(64 * 1024 + 32 * 1024 * 1024) });
    // a 64 KiB piece the kernel takes at once: no backpressure although it is over node's 16 KiB mark
    seen.push({ ok: res.write(Buffer.alloc(64 * 1024, 1)), flushed: res.flushed });
    // 32 MiB to a client that is not reading: queued in the socket
    seen.push({ ok: res.write(Buffer.alloc(32 * 1024 * 1024, 2)), flushed: res.flushed });
    release = () => res.end();
  }, async (port) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.write('GET / HTTP/1.1\r\nhost: t\r\n\r\n');
    socket.pause();
    for (let i = 0; i < 100 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(seen, [{ ok: true, flushed: true }, { ok: false, flushed: false }]);
    let got = 0;
    socket.on('data', (d: Buffer) => { got += d.length; });
    socket.resume();
    release!();
    for (let i = 0; i < 500 && got < 32 * 1024 * 1024; i++) await new Promise((r) => setTimeout(r, 10));
    socket.destroy();
  });
});
