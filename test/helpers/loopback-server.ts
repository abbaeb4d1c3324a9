import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TestCert } from './certs.js';

/** A request a loopback test server received, its body read whole. */
export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** The connections a loopback server accepted so far, and how many of them are still open. */
export interface SocketCounts {
  opened: number;
  open: number;
}

export interface LoopbackServer {
  server: http.Server;
  url: string;
  sockets: SocketCounts;
}

/**
 * An HTTP server on 127.0.0.1 (an ephemeral port) that reads each request's body and
 * hands it to `answer`: the auth service, decision server or mirror a plugin test talks to.
 * With `tls`, it speaks HTTPS with that certificate. `keepAliveTimeout` (ms) is how long it
 * keeps an idle connection (Node's default: 5 s).
 */
export function startLoopbackServer(answer: (req: ReceivedRequest, res: ServerResponse) => void,
  opts: { tls?: TestCert; keepAliveTimeout?: number } = {}): Promise<LoopbackServer> {
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => answer({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) }, res));
  };
  const server: http.Server = opts.tls === undefined ? http.createServer(onRequest) : https.createServer(opts.tls, onRequest);
  if (opts.keepAliveTimeout !== undefined) server.keepAliveTimeout = opts.keepAliveTimeout;
  const sockets: SocketCounts = { opened: 0, open: 0 };
  server.on(opts.tls === undefined ? 'connection' : 'secureConnection', (socket: { once(e: 'close', f: () => void): void }) => {
    sockets.opened++;
    sockets.open++;
    socket.once('close', () => { sockets.open--; });
  });
  const scheme = opts.tls === undefined ? 'http' : 'https';
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    resolve({ server, url: `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`, sockets });
  }));
}
