// Benchmark upstream: a plain node:http server (one process) answering
//   GET /hello            -> a short text body
//   GET /bench/target     -> the same short body (the measured route of the 10k-routes case)
//   GET /bytes/<n>        -> n bytes (1 KiB, 64 KiB and 1 MiB are pre-built; other sizes up to
//                            16 MiB are built on first use and cached)
// Keep-alive stays on with a long idle timeout so proxies keep their pooled connections.
// Usage: node dist/bench/upstream-server.js --port=<port>   (binds 127.0.0.1 only)
import type { IncomingMessage, ServerResponse } from 'node:http';
import { serveOnLoopback } from './serve-loopback.js';
import { UPSTREAM_BODY_SIZES } from './scenarios.js';

const HELLO = Buffer.from('hello from the gatehouse bench upstream\n');
const MAX_SIZE = 16 * 1024 * 1024;
const bodies = new Map<number, Buffer>();
for (const n of UPSTREAM_BODY_SIZES) bodies.set(n, Buffer.alloc(n, 'x'));

function send(res: ServerResponse, status: number, body: Buffer, type: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': body.length });
  res.end(body);
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (path === '/hello' || path === '/bench/target') return send(res, 200, HELLO, 'text/plain');
  if (path.startsWith('/bytes/')) {
    const n = Number(path.slice(7));
    if (Number.isInteger(n) && n >= 0 && n <= MAX_SIZE) {
      let body = bodies.get(n);
      if (body === undefined) bodies.set(n, (body = Buffer.alloc(n, 'x')));
      return send(res, 200, body, 'application/octet-stream');
    }
  }
  send(res, 404, Buffer.from('not found\n'), 'text/plain');
}

serveOnLoopback('upstream', (req, res) => {
  // Requests carry no body in the bench, but drain one if present so the socket stays reusable.
  if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined) {
    req.resume();
    req.on('end', () => handle(req, res));
  } else {
    handle(req, res);
  }
});
