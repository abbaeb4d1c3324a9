import http2, { constants, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';

// A plain HTTP/2 upstream (h2c by prior knowledge, node:http2) for `scheme: http2` routes:
//   /info          the request as JSON (method, path, authority, headers), no trailers
//   /echo          the request body streamed back, trailers x-trailer and x-sha256 of what it read
//   /slow          answers after 3 s (a read timeout in between)
//   /flaky         every other stream is refused (RST_STREAM REFUSED_STREAM), the others as /info
//   /goaway        as /info, then the session is closed (GOAWAY) once the stream is done
// Anything else: 404.

export interface H2cUpstream {
  port: number;
  /** Sessions opened so far. */
  sessions: number;
  /** Streams received on /flaky so far (refused ones included). */
  flakyStreams: number;
  /** Resolves once every session opened so far has closed (bounded by `timeoutMs`). */
  sessionsClosed(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

export async function startH2cUpstream(): Promise<H2cUpstream> {
  const server = http2.createServer();
  const open = new Set<http2.ServerHttp2Session>();
  let flaky = 0;
  server.on('session', (session) => {
    up.sessions++;
    open.add(session);
    session.on('close', () => open.delete(session));
    session.on('error', () => undefined);
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    const path = String(headers[':path']).split('?')[0];
    if (path === '/flaky' && flaky++ % 2 === 0) {
      up.flakyStreams = flaky;
      stream.close(constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    if (path === '/flaky') up.flakyStreams = flaky;
    if (path === '/info' || path === '/flaky' || path === '/goaway') {
      info(stream, headers);
      const session = stream.session;
      if (path === '/goaway') stream.once('close', () => session?.close());
    } else if (path === '/echo') {
      echo(stream);
    } else if (path === '/slow') {
      const t = setTimeout(() => info(stream, headers), 3000);
      stream.once('close', () => clearTimeout(t));
    } else {
      stream.respond({ ':status': 404 }, { endStream: true });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const up: H2cUpstream = {
    port: (server.address() as AddressInfo).port,
    sessions: 0,
    flakyStreams: 0,
    sessionsClosed: async (timeoutMs) => {
      const until = Date.now() + timeoutMs;
      while (open.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      return open.size === 0;
    },
    close: () => new Promise<void>((resolve) => {
      for (const s of open) s.destroy();
      server.close(() => resolve());
    }),
  };
  return up;
}

function info(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  const rest: Record<string, unknown> = {};
  for (const name in headers) if (name.charCodeAt(0) !== 58) rest[name] = headers[name];
  const body = Buffer.from(JSON.stringify({
    method: headers[':method'], path: headers[':path'], authority: headers[':authority'], scheme: headers[':scheme'], headers: rest,
  }));
  stream.resume();
  stream.respond({ ':status': 200, 'content-type': 'application/json', 'content-length': body.length, 'x-up': 'h2', server: 'h2c-upstream' });
  stream.end(body);
}

function echo(stream: ServerHttp2Stream): void {
  const hash = createHash('sha256');
  stream.on('data', (c: Buffer) => hash.update(c));
  stream.respond({ ':status': 200, 'content-type': 'application/octet-stream', 'x-up': 'h2' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers({ 'x-trailer': 'yes', 'x-sha256': hash.digest('hex') }));
  stream.pipe(stream);
}
