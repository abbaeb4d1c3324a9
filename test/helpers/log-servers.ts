// Log servers on 127.0.0.1 (ephemeral ports) for the loggers' tests: what a TCP (or TLS)
// server got per connection, what a UDP socket got per datagram; and the check that a
// failing server fails the batch, never the request.
import { createSocket } from 'node:dgram';
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import assert from 'node:assert/strict';
import type { Plugin } from '../../src/contracts/plugin.js';
import type { TestCert } from './certs.js';
import { createTestContext, prepareWith } from './plugin-context.js';
import { eventually } from './gateway.js';

export interface TcpConnectionLog {
  /** Everything the connection carried, once the client closed it. */
  data: string;
  /** The TLS server name the client sent (TLS servers only). */
  servername: string | undefined;
}

export interface TcpLogServer {
  port: number;
  /** One record per connection the client closed, in order. */
  connections: TcpConnectionLog[];
  /** Connections accepted (handshake done, for TLS), closed or not. */
  accepted(): number;
  /** Everything received so far on every connection, open ones included (a kept-alive client never closes). */
  received(): string;
  close(): Promise<void>;
}

/** A TCP server (TLS with `tls`) that records what each connection sent until the client closed it. */
export function startTcpLogServer(opts: { tls?: TestCert } = {}): Promise<TcpLogServer> {
  const connections: TcpConnectionLog[] = [];
  const open = new Set<Socket>();
  const all: Buffer[] = [];
  let accepted = 0;
  const onSocket = (socket: Socket): void => {
    accepted++;
    open.add(socket);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => { chunks.push(c); all.push(c); });
    socket.on('error', () => socket.destroy());
    socket.on('end', () => {
      connections.push({ data: Buffer.concat(chunks).toString('utf8'), servername: (socket as TLSSocket).servername || undefined });
      socket.end();
    });
    socket.on('close', () => open.delete(socket));
  };
  const server: Server = opts.tls === undefined ? createTcpServer(onSocket) : createTlsServer(opts.tls, onSocket);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: (server.address() as AddressInfo).port,
    connections,
    accepted: () => accepted,
    received: () => Buffer.concat(all).toString('utf8'),
    close: () => {
      for (const s of open) s.destroy();
      return new Promise((done) => server.close(() => done()));
    },
  })));
}

/** A TCP server that accepts connections and never says anything (a TLS client waits for its hello). */
export function startSilentTcpServer(): Promise<{ port: number; close(): Promise<void> }> {
  const open = new Set<Socket>();
  const server = createTcpServer((s) => { open.add(s); s.on('error', () => undefined); s.on('close', () => open.delete(s)); });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: (server.address() as AddressInfo).port,
    close: () => {
      for (const s of open) s.destroy();
      return new Promise((done) => server.close(() => done()));
    },
  })));
}

export interface UdpLogServer {
  port: number;
  /** Each datagram received, as text. */
  datagrams: string[];
  close(): Promise<void>;
}

/** A UDP socket on 127.0.0.1 that records each datagram. */
export function startUdpLogServer(): Promise<UdpLogServer> {
  const datagrams: string[] = [];
  const socket = createSocket('udp4');
  socket.on('message', (msg) => datagrams.push(msg.toString('utf8')));
  return new Promise((resolve) => socket.bind(0, '127.0.0.1', () => resolve({
    port: socket.address().port,
    datagrams,
    close: () => new Promise((done) => socket.close(() => done())),
  })));
}

/** Polls `cond` every 5 ms, at most 3 s (gateway.ts's `eventually`, the error naming what was awaited). */
export async function until(cond: () => boolean, what = 'condition'): Promise<void> {
  await eventually(cond, 600, 5).catch(() => { throw new Error(`${what} not met in time`); });
}

/**
 * Logs one request through a batched logger whose server fails it: the log phase must not
 * throw, and the batch must fail (counted by its processor). Returns the prepared instance.
 */
export async function expectBatchFailure<P extends { processor: { failed: number } | undefined }>(
  plugin: Plugin<unknown, P>, conf: Record<string, unknown>): Promise<P> {
  const p = prepareWith(plugin, conf);
  assert.doesNotThrow(() => plugin.log!(p, createTestContext({ uri: '/x' })));
  await until(() => p.processor?.failed === 1, 'a failed batch');
  return p;
}
