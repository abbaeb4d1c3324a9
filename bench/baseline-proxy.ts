// Baseline: the fastest honest single-process Node proxy we could write. node:http in front, one
// undici Pool (keep-alive, pipelining 1) to the single upstream behind, the response streamed chunk by
// chunk straight into `res` with backpressure. Request and response hop-by-hop headers are dropped,
// X-Forwarded-For is added, the Host header is passed through, upstream failures answer 502.
// Three variants were measured, interleaved (wrk, 50 connections, medians of 3-5 rounds): the raw
// dispatch handler below (onHeaders/onData: raw header buffers, no header object built), the
// controller-style dispatch handler (onResponseStart/onResponseData) and pool.stream(). The raw
// handler was fastest on /hello and 1 KiB (+10-25%) and at 64 KiB (+5-15%), and level within
// noise at 1 MiB, so it is the one kept. Its callbacks are marked deprecated in undici 7's types
// but are what undici's own clients drive natively. See bench/README.md.
// Usage: node dist/bench/baseline-proxy.js --port=<port> --upstream=http://127.0.0.1:<port>
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Pool } from 'undici';

const arg = (k: string): string | undefined => process.argv.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3);
const pool = new Pool(arg('upstream') ?? 'http://127.0.0.1:1980', { pipelining: 1, keepAliveTimeout: 60_000, keepAliveMaxTimeout: 600_000 });
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authenticate', 'proxy-authorization']);

function fail(res: ServerResponse): void {
  if (res.headersSent) res.destroy();
  else { res.writeHead(502, { 'content-type': 'text/plain' }); res.end('bad gateway\n'); }
}

function proxy(req: IncomingMessage, res: ServerResponse): void {
  const raw = req.rawHeaders, headers: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (!HOP.has(raw[i].toLowerCase())) headers.push(raw[i], raw[i + 1]);
  headers.push('x-forwarded-for', req.socket.remoteAddress ?? '');
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  let abort: ((err?: Error) => void) | undefined;
  res.on('close', () => { if (!res.writableFinished) abort?.(); });
  pool.dispatch({ path: req.url ?? '/', method: req.method as 'GET', headers, body: hasBody ? req : null }, {
    onConnect(a) { abort = a; },
    onHeaders(status, rawRes, resume) {
      if (status < 200) return true; // 1xx informational: wait for the final response
      const out: string[] = [];
      for (let i = 0; i < rawRes.length; i += 2) {
        const k = rawRes[i].toString('latin1');
        if (!HOP.has(k.toLowerCase())) out.push(k, rawRes[i + 1].toString('latin1'));
      }
      res.writeHead(status, out);
      res.on('drain', resume);
      return true;
    },
    onData: (chunk) => res.write(chunk), // false pauses the upstream socket until 'drain'
    onComplete: () => { res.end(); },
    onError: () => fail(res),
  });
}

const server = createServer({ keepAlive: true }, proxy);
server.keepAliveTimeout = 65_000;
server.listen(Number(arg('port') ?? 0), '127.0.0.1', () => process.stdout.write('baseline proxy ready\n'));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
