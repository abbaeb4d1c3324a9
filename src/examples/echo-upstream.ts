// EXAMPLE ONLY: the upstream the example routes of conf/gatehouse.yaml point at, so that
// `npm start` on a fresh clone answers `curl http://127.0.0.1:9080/hello` with 200.
// Started by the primary when config.yaml has `examples.echo_upstream`; production
// configs leave that block out. It answers every request with what it received, as JSON,
// which also makes it a handy target for trying plugins (headers a plugin added, a
// rewritten path, the consumer name key-auth forwarded...).
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { ListenConfig } from '../contracts/node-config.js';
import { closeNow, listenOn, type BoundAddress } from '../core/listen.js';

/** Request bodies beyond this get 413: the echo is for trying things, not for load. */
export const ECHO_MAX_BODY_BYTES = 1024 * 1024;

/** What the echo upstream answers with. */
export interface EchoReply {
  method: string;
  /** The request-target as received: path and query string. */
  uri: string;
  path: string;
  /** Query arguments; a repeated name gives a list. */
  args: Record<string, string | string[]>;
  /** Header names lower-cased; repeated headers joined as Node joins them. */
  headers: Record<string, string | string[] | undefined>;
  /** The body as UTF-8 text, or base64 with `body_encoding: "base64"` when it is not valid UTF-8. */
  body: string;
  body_encoding?: 'base64';
  /** Where the request came from (the gateway's address when proxied). */
  remote_addr: string | undefined;
}

/** The body, or undefined when it is larger than the limit (the rest is read and dropped, so the 413 reaches the client). */
function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= ECHO_MAX_BODY_BYTES) chunks.push(c);
    });
    req.on('end', () => resolve(size > ECHO_MAX_BODY_BYTES ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function argsOf(search: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of search) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-echo-upstream': 'gatehouse-example' });
  res.end(text);
}

/** Builds the reply for one request (exported for unit tests). */
export function echoReply(req: Pick<IncomingMessage, 'method' | 'url' | 'headers'> & { socket: { remoteAddress?: string } }, body: Buffer): EchoReply {
  const uri = req.url ?? '/';
  const url = new URL(uri, 'http://echo.invalid');
  const text = body.toString('utf8');
  const isUtf8 = Buffer.from(text, 'utf8').equals(body);
  return {
    method: req.method ?? 'GET',
    uri,
    path: url.pathname,
    args: argsOf(url.searchParams),
    headers: { ...req.headers },
    body: isUtf8 ? text : body.toString('base64'),
    ...(isUtf8 ? {} : { body_encoding: 'base64' as const }),
    remote_addr: req.socket.remoteAddress,
  };
}

export class EchoUpstream {
  private readonly server: http.Server;

  constructor(private readonly listenConfig: ListenConfig) {
    this.server = http.createServer((req, res) => {
      readBody(req).then((body) => {
        if (body === undefined) {
          send(res, 413, { error: `request body larger than ${ECHO_MAX_BODY_BYTES} bytes` });
          return;
        }
        send(res, 200, echoReply(req, body));
      }, () => { req.socket.destroy(); });
    });
  }

  listen(): Promise<BoundAddress> {
    return listenOn(this.server, this.listenConfig);
  }

  close(): Promise<void> {
    return closeNow(this.server);
  }
}
