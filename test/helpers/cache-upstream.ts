import http from 'node:http';
import type { AddressInfo } from 'node:net';

// The upstream the proxy-cache tests cache: it counts requests per path and answers by
// path, so each test owns its keys. `?h=Name:value` adds a response header (repeatable),
// `?size=N` sends N bytes, `?delay=ms` answers late, `?trickle=ms` sends the first half
// of the body, waits, then the rest (chunked).

export interface CacheUpstream {
  port: number;
  /** Requests received for a path (query string left out). */
  hits(path: string): number;
  close(): Promise<void>;
}

export async function startCacheUpstream(): Promise<CacheUpstream> {
  const counts = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const n = (counts.get(url.pathname) ?? 0) + 1;
    counts.set(url.pathname, n);
    const headers: [string, string][] = [];
    for (const h of url.searchParams.getAll('h')) {
      const i = h.indexOf(':');
      headers.push([h.slice(0, i), h.slice(i + 1)]);
    }
    const size = Number(url.searchParams.get('size') ?? 0);
    const body = size > 0 ? Buffer.alloc(size, 'x') : Buffer.from(`${url.pathname} #${n} lang=${req.headers['accept-language'] ?? ''}`);
    const send = (): void => {
      const trickle = Number(url.searchParams.get('trickle') ?? 0);
      const status = Number(url.searchParams.get('status') ?? 200);
      if (trickle > 0) {
        res.writeHead(status, [...headers.flat(), 'content-type', 'text/plain']);
        res.write(body.subarray(0, body.length >> 1));
        setTimeout(() => res.end(body.subarray(body.length >> 1)), trickle);
        return;
      }
      res.writeHead(status, [...headers.flat(), 'content-type', 'text/plain', 'content-length', String(body.length)]);
      res.end(body);
    };
    const delay = Number(url.searchParams.get('delay') ?? 0);
    if (delay > 0) setTimeout(send, delay);
    else send();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    hits: (path) => counts.get(path) ?? 0,
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

export interface FreshResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** ms from sending to the first body byte, and to the end. */
  firstByteMs: number;
  endMs: number;
}

/** One request on a connection of its own (so the primary hands it to the next worker). */
export function freshRequest(url: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<FreshResponse> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let firstByteMs = -1;
      res.on('data', (c: Buffer) => {
        if (firstByteMs < 0) firstByteMs = Date.now() - started;
        chunks.push(c);
      });
      res.on('end', () => resolve({
        status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString(),
        firstByteMs, endMs: Date.now() - started,
      }));
      res.on('error', reject);
    });
    req.setTimeout(15_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}
