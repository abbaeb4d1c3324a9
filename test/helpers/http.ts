import { request, Agent } from 'undici';
import net from 'node:net';
import assert from 'node:assert/strict';

export interface SimpleResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json<T = any>(): T;
}

// One agent without keep-alive reuse surprises: tests that count nodes want fresh
// balancing decisions per request, which keep-alive does not affect (balancing is per request).
const agent = new Agent({ keepAliveTimeout: 1000, connections: 16 });

export async function get(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<SimpleResponse> {
  const res = await request(url, {
    method: (opts.method ?? 'GET') as 'GET',
    headers: opts.headers,
    body: opts.body,
    dispatcher: agent,
  });
  const body = await res.body.text();
  return {
    status: res.statusCode,
    headers: res.headers as Record<string, string | string[] | undefined>,
    body,
    json: () => JSON.parse(body),
  };
}

/** Sends raw bytes and returns everything the server wrote until it closed (or `timeoutMs`). */
export function rawRequest(port: number, data: string | Buffer, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let out = '';
    const timer = setTimeout(() => { socket.destroy(); resolve(out); }, timeoutMs);
    socket.on('data', (c) => { out += c.toString('latin1'); });
    socket.on('close', () => { clearTimeout(timer); resolve(out); });
    socket.on('error', (e) => { clearTimeout(timer); if (out) resolve(out); else reject(e); });
    socket.write(data);
  });
}

/**
 * An answer whose body the gateway framed itself (a filter changed or may have changed it):
 * chunked, or a Content-Length that is the length of the body as sent, never one from before.
 */
export function assertOwnFraming(r: SimpleResponse): void {
  const length = r.headers['content-length'];
  if (length === undefined) {
    assert.equal(r.headers['transfer-encoding'], 'chunked', 'no Content-Length: chunked');
  } else {
    assert.equal(Number(length), Buffer.byteLength(r.body), 'the Content-Length is the body sent');
    assert.equal(r.headers['transfer-encoding'], undefined);
  }
}
