import http2, { type ClientHttp2Session, type OutgoingHttpHeaders, type IncomingHttpHeaders } from 'node:http2';
import net from 'node:net';

// HTTP/2 clients for the gateway's tests: node:http2 sessions for ordinary requests, and a
// raw frame writer for what no well-behaved client sends (floods, resets, bombs).

export interface H2Answer { status: number; headers: IncomingHttpHeaders; body: Buffer }

/** One request on `session`; every wait is bounded by `timeoutMs`. */
export function h2Request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: Buffer | string, timeoutMs = 10_000): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    const timer = setTimeout(() => { stream.close(); reject(new Error(`no answer in ${timeoutMs} ms`)); }, timeoutMs);
    const chunks: Buffer[] = [];
    let head: IncomingHttpHeaders = {};
    stream.on('response', (h) => { head = h; });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => { clearTimeout(timer); resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks) }); });
    stream.on('error', (err) => { clearTimeout(timer); reject(err); });
    if (body !== undefined) stream.end(body);
  });
}

export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 1, ACK: 1, END_HEADERS: 4 } as const;
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK header block of literal fields without indexing (RFC 7541 §6.2.2), names and values as plain strings (< 127 bytes each). */
export function hpack(fields: [string, string][]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) parts.push(Buffer.from([0, name.length]), Buffer.from(name), ...stringLiteral(value));
  return Buffer.concat(parts);
}

function stringLiteral(value: string): Buffer[] {
  const v = Buffer.from(value);
  if (v.length < 127) return [Buffer.from([v.length]), v];
  const len: number[] = [127];
  let n = v.length - 127;
  while (n >= 128) { len.push((n & 127) | 128); n >>= 7; }
  len.push(n);
  return [Buffer.from(len), v];
}

export function rstStream(streamId: number, code = 8 /* CANCEL */): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code);
  return frame(FRAME.RST_STREAM, 0, streamId, p);
}

export const GET_FIELDS = (path = '/', authority = 'h2.test'): [string, string][] =>
  [[':method', 'GET'], [':scheme', 'http'], [':path', path], [':authority', authority]];

export interface RawH2 {
  socket: net.Socket;
  /** Frames received so far (type, flags, stream, payload). */
  frames: { type: number; flags: number; streamId: number; payload: Buffer }[];
  /** Resolves when the gateway closed the connection (or after `timeoutMs`, with false). */
  closed(timeoutMs: number): Promise<boolean>;
  /** The error code of a GOAWAY the gateway sent, if any. */
  goawayCode(): number | undefined;
}

/** A raw h2c connection: preface and an empty SETTINGS sent, frames from the gateway parsed as they come. */
export function rawH2c(port: number): Promise<RawH2> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)]));
      resolve(raw);
    });
    let buf = Buffer.alloc(0);
    let ended = false;
    const waiters: (() => void)[] = [];
    const raw: RawH2 = {
      socket,
      frames: [],
      closed: (timeoutMs) => new Promise((res) => {
        if (ended) { res(true); return; }
        const t = setTimeout(() => res(false), timeoutMs);
        waiters.push(() => { clearTimeout(t); res(true); });
      }),
      goawayCode: () => {
        const g = raw.frames.find((f) => f.type === FRAME.GOAWAY);
        return g === undefined ? undefined : g.payload.readUInt32BE(4);
      },
    };
    socket.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        raw.frames.push({ type: buf[3]!, flags: buf[4]!, streamId: buf.readUInt32BE(5) & 0x7fffffff, payload: buf.subarray(9, 9 + len) });
        buf = buf.subarray(9 + len);
      }
    });
    const done = (): void => { ended = true; for (const w of waiters.splice(0)) w(); };
    socket.on('close', done);
    socket.on('error', () => undefined);
    socket.once('error', reject);
  });
}

export function connectH2c(port: number): ClientHttp2Session {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  return session;
}
