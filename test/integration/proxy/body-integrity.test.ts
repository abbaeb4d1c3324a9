import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { startGateway, type Gateway } from '../../helpers/gateway.js';

// Large bodies through the gateway's read buffers (src/data-plane/http1-client/read-buffers.ts),
// byte for byte: every response has its own pattern, so bytes of one read landing in a piece
// another client is still waiting for (a buffer read into again too early) show as a mismatch.
// Fast and slow clients at once, Content-Length and chunked bodies, with and without plugins.

let upstream: http.Server;
let gw: Gateway;

function pattern(seed: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (seed * 31 + i * 7 + (i >> 10)) & 0xff;
  return b;
}

before(async () => {
  upstream = http.createServer((req, res) => {
    const m = /^\/(\d+)\/(\d+)\/(length|chunked)/.exec(req.url ?? '');
    if (m === null) { res.statusCode = 404; res.end(); return; }
    const body = pattern(Number(m[1]), Number(m[2]));
    if (m[3] === 'length') {
      res.setHeader('content-length', body.length);
      res.end(body);
      return;
    }
    // chunked, in pieces of odd sizes
    let at = 0;
    const next = (): void => {
      while (at < body.length) {
        const piece = body.subarray(at, at + 40_000 + (at % 3) * 1000);
        at += piece.length;
        if (!res.write(piece)) { res.once('drain', next); return; }
      }
      res.end();
    };
    next();
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const node = `127.0.0.1:${(upstream.address() as net.AddressInfo).port}`;
  gw = await startGateway({
    config: {
      routes: [
        { id: 'plain', uri: '/plain/*', upstream: { nodes: { [node]: 1 } }, plugins: { 'proxy-rewrite': { regex_uri: ['^/plain/(.*)', '/$1'] } } },
        { id: 'headers', uri: '/headers/*', upstream: { nodes: { [node]: 1 } }, plugins: {
          'proxy-rewrite': { regex_uri: ['^/headers/(.*)', '/$1'] }, 'response-rewrite': { headers: { set: { 'x-seen': '1' } } },
        } },
      ],
    },
  });
});

after(async () => {
  await gw?.stop();
  upstream?.close();
});

/**
 * Fetches a body. A slow client stops reading after its first piece for long enough that the
 * kernel's buffers fill and the gateway queues what the upstream sends on (then reads on).
 */
function fetchBody(path: string, slow: boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: gw.httpPort, path, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => {
        parts.push(d);
        if (slow && parts.length === 1) {
          res.pause();
          setTimeout(() => res.resume(), 300);
        }
      });
      res.on('end', () => resolve(Buffer.concat(parts)));
      res.on('error', reject);
    }).on('error', reject);
  });
}

test('large bodies reach fast and slow clients intact, each with its own bytes', async () => {
  const jobs: Promise<void>[] = [];
  let seed = 1;
  for (const prefix of ['plain', 'headers']) {
    for (const framing of ['length', 'chunked']) {
      for (const size of [9_000, 70_000, 1_000_000, 12_000_000]) {
        for (const slow of [false, false, true]) {
          const s = seed++;
          jobs.push(fetchBody(`/${prefix}/${s}/${size}/${framing}`, slow).then((body) => {
            assert.equal(body.length, size, `${prefix} ${framing} ${size}`);
            assert.ok(body.equals(pattern(s, size)), `${prefix} ${framing} ${size} bytes (slow: ${slow}) differ from what the upstream sent`);
          }));
        }
      }
    }
  }
  await Promise.all(jobs);
});
