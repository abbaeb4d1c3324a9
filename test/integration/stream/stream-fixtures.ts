// Real loopback servers and clients for the stream route tests: TCP and UDP echo
// servers that tag their answers (so balancing shows), a TCP client that sends, half-closes
// and collects everything until the gateway closes, and the stream addresses the gateway
// announced in its `gatehouse started` line.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect as tlsConnect } from 'node:tls';
import type { Gateway } from '../../helpers/gateway.js';

export interface EchoServer { port: number; close(): Promise<void> }

/** Echoes every byte back after `tag` (sent once, first); ends its side when the client does. */
export async function tcpEcho(tag: string): Promise<EchoServer> {
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.write(tag);
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

/** Answers each datagram with `tag` + the datagram. */
export async function udpEcho(tag: string): Promise<EchoServer> {
  const socket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => socket.send(Buffer.concat([Buffer.from(tag), msg]), rinfo.port, rinfo.address));
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  return { port: socket.address().port, close: () => new Promise((r) => socket.close(() => r())) };
}

export interface Exchange { data: Buffer; closedAfterMs: number }

/**
 * Connects, writes `payload`, half-closes, and collects until the connection closes
 * (bounded by `timeoutMs`: a connection still open then is destroyed and reported).
 */
export function tcpExchange(port: number, payload: Buffer | string, opts: { timeoutMs?: number; servername?: string } = {}): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const chunks: Buffer[] = [];
    const socket: Socket = opts.servername !== undefined
      ? tlsConnect({ host: '127.0.0.1', port, servername: opts.servername, rejectUnauthorized: false })
      : connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connection to ${port} still open after ${opts.timeoutMs ?? 5000} ms; got ${Buffer.concat(chunks).length} bytes`));
    }, opts.timeoutMs ?? 5000);
    socket.once(opts.servername !== undefined ? 'secureConnect' : 'connect', () => {
      socket.write(payload);
      socket.end();
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), closedAfterMs: Date.now() - started });
    });
  });
}

/** Opens a connection and leaves it open (for limit-conn); resolves once the upstream's tag arrived or the gateway closed it. */
export function tcpHold(port: number): Promise<{ socket: Socket; got: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let got = '';
    socket.on('error', () => undefined);
    const timer = setTimeout(() => resolve({ socket, got, closed: false }), 3000);
    socket.on('data', (c: Buffer) => {
      got += c.toString();
      clearTimeout(timer);
      resolve({ socket, got, closed: false });
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ socket, got, closed: true });
    });
  });
}

/** Sends one datagram from a fresh socket and waits (bounded) for one answer; undefined when none came. */
export async function udpAsk(port: number, msg: string, timeoutMs = 1500, socket?: UdpSocket): Promise<string | undefined> {
  const s = socket ?? createSocket('udp4');
  try {
    return await new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs);
      s.once('message', (m) => {
        clearTimeout(timer);
        resolve(m.toString());
      });
      s.send(msg, port, '127.0.0.1');
    });
  } finally {
    if (socket === undefined) s.close();
  }
}

export interface StreamAddresses { tcp: number; tls: number | undefined; udp: number | undefined }

/** The stream listeners of the `gatehouse started` line. */
export function streamAddresses(gw: Gateway): StreamAddresses {
  const line = gw.output().split('\n').find((l) => l.includes('gatehouse started'))!;
  const stream = (JSON.parse(line) as { stream: { protocol: string; port: number; tls: boolean }[] }).stream;
  return {
    tcp: stream.find((s) => s.protocol === 'tcp' && !s.tls)!.port,
    tls: stream.find((s) => s.protocol === 'tcp' && s.tls)?.port,
    udp: stream.find((s) => s.protocol === 'udp')?.port,
  };
}
