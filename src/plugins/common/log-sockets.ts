// The sockets of the loggers that speak plain TCP (optionally TLS) or UDP to a log server
// (tcp-logger, udp-logger, syslog). Each call is bounded by the sink's timeout, and every
// failure is a rejection naming the server, so the batch processor retries and counts it.
import { lookup } from 'node:dns/promises';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export interface TcpTarget {
  host: string;
  port: number;
  /** TLS over the connection, the server's certificate checked against the node's CA store. */
  tls: boolean;
  /** The name sent as SNI and checked in the certificate; default the host when it is a name. */
  servername?: string;
  /** Bounds connecting (and the handshake), then each write: no progress for this long fails it. */
  timeoutMs: number;
}

export interface UdpTarget { host: string; port: number; timeoutMs: number }

/** The schema of a log server's address (tcp-logger, udp-logger, syslog). */
export const SOCKET_ADDRESS_PROPERTIES = {
  host: { type: 'string', minLength: 1 },
  port: { type: 'integer', minimum: 1, maximum: 65535 },
} as const;

/** The largest UDP payload over IPv4 (65,535 − 8 bytes of UDP header − 20 of IP header). */
export const MAX_UDP_PAYLOAD = 65_507;

function where(t: { host: string; port: number }): string {
  return `host[${t.host}] port[${t.port}]`;
}

/** A connected socket (TLS done when asked); rejects on a refusal, a failed handshake or the timeout. */
export function connectTcp(t: TcpTarget, protocol = 'TCP'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const servername = t.servername ?? (isIP(t.host) === 0 ? t.host : undefined);
    const socket: Socket = t.tls
      ? tlsConnect({ host: t.host, port: t.port, servername, rejectUnauthorized: true })
      : netConnect({ host: t.host, port: t.port });
    let connected = false;
    const fail = (err: Error): void => {
      socket.destroy();
      const step = t.tls && connected ? 'perform TLS handshake to' : 'connect to';
      reject(new Error(`failed to ${step} ${protocol} server: ${where(t)} err: ${err.message}`));
    };
    const onTimeout = (): void => fail(new Error('timeout'));
    socket.setTimeout(t.timeoutMs);
    socket.on('timeout', onTimeout);
    socket.once('error', fail);
    socket.once('connect', () => { connected = true; });
    socket.once(t.tls ? 'secureConnect' : 'connect', () => {
      socket.off('error', fail);
      socket.off('timeout', onTimeout);
      resolve(socket);
    });
  });
}

/** Writes `data` (resolves once the kernel took it); the socket's timeout bounds the wait. */
export function writeAll(socket: Socket, data: string | Buffer, t: { host: string; port: number }, protocol = 'TCP'): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (err?: Error | null): void => {
      if (settled) return;
      settled = true;
      socket.off('error', done);
      socket.off('timeout', onTimeout);
      if (err) {
        socket.destroy();
        reject(new Error(`failed to send data to ${protocol} server: ${where(t)} err: ${err.message}`));
      } else {
        resolve();
      }
    };
    const onTimeout = (): void => done(new Error('timeout'));
    socket.once('error', done);
    socket.once('timeout', onTimeout);
    socket.write(data, done);
  });
}

/**
 * One connection per batch, as APISIX's tcp-logger: connect, write, close our side. The
 * server's own close (or the timeout) ends the socket; anything it sends is discarded.
 */
export async function sendOverTcp(t: TcpTarget, data: string | Buffer): Promise<void> {
  const socket = await connectTcp(t);
  await writeAll(socket, data, t);
  socket.on('error', () => socket.destroy());
  socket.on('timeout', () => socket.destroy());
  socket.resume();
  socket.end();
}

/** Sends each buffer as one datagram from a new socket, then closes it (APISIX's udp-logger opens one per batch). */
export async function sendDatagrams(t: UdpTarget, datagrams: readonly Buffer[]): Promise<void> {
  if (datagrams.length === 0) return;
  let socket: UdpSocket | undefined;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), t.timeoutMs);
  });
  try {
    await Promise.race([deadline, (async () => {
      const { address, family } = await lookup(t.host);
      const s = socket = createSocket(family === 6 ? 'udp6' : 'udp4');
      // an ICMP port unreachable from an earlier datagram surfaces here: it fails this batch
      const broken = new Promise<never>((_, reject) => s.once('error', reject));
      await Promise.race([broken, new Promise<void>((resolve) => s.connect(t.port, address, resolve))]);
      for (const d of datagrams) {
        await Promise.race([broken, new Promise<void>((resolve, reject) => s.send(d, (err) => (err ? reject(err) : resolve())))]);
      }
    })()]);
  } catch (err) {
    throw new Error(`failed to send data to UDP server: ${where(t)} err: ${(err as Error).message}`);
  } finally {
    clearTimeout(timer);
    try { socket?.close(); } catch { /* already closed */ }
  }
}

/**
 * Packs JSON entries into datagrams of at most `max` bytes: each a JSON array of as many
 * entries as fit (one object each when `single`). An entry that fits no datagram alone is
 * left out and counted in `tooLarge`.
 */
export function packJsonDatagrams(entries: readonly unknown[], single: boolean, max = MAX_UDP_PAYLOAD): { datagrams: Buffer[]; tooLarge: number } {
  const datagrams: Buffer[] = [];
  let tooLarge = 0;
  // kept as text, measured in bytes: each datagram is encoded once
  let parts: string[] = [];
  let size = 1; // "[" … "]" less the comma the first part does not need
  const close = (): void => {
    if (parts.length === 0) return;
    datagrams.push(Buffer.from(`[${parts.join(',')}]`, 'utf8'));
    parts = [];
    size = 1;
  };
  for (const entry of entries) {
    const json = JSON.stringify(entry);
    const bytes = Buffer.byteLength(json);
    if (bytes + (single ? 0 : 2) > max) {
      tooLarge++;
      continue;
    }
    if (single) {
      datagrams.push(Buffer.from(json, 'utf8'));
      continue;
    }
    if (size + bytes + 1 > max) close();
    parts.push(json);
    size += bytes + 1;
  }
  close();
  return { datagrams, tooLarge };
}

/**
 * Kept-alive TCP (or TLS) connections to one server: at most `size` idle ones are kept
 * (APISIX's `pool_size`, as ngx's sock:setkeepalive) for `idleMs`, the most recent reused
 * first. A connection the server closed leaves the pool when its close arrives.
 */
export class TcpConnectionPool {
  private readonly idle: Socket[] = [];
  private closed = false;
  private sending = 0;

  constructor(private readonly target: TcpTarget, private readonly size: number,
    private readonly idleMs = 60_000, private readonly protocol = 'TCP') {}

  /** Holds no connection, idle or in use: forgetting it leaves nothing open. */
  get empty(): boolean {
    return this.idle.length === 0 && this.sending === 0;
  }

  /** Writes `data` on an idle connection, or a new one; the connection goes back to the pool after. */
  async send(data: string | Buffer): Promise<void> {
    this.sending++;
    try {
      await this.sendOn(data);
    } finally {
      this.sending--;
    }
  }

  private async sendOn(data: string | Buffer): Promise<void> {
    let socket = this.idle.pop();
    // one the server half-closed is on its way out: its close event has not come yet
    while (socket !== undefined && (socket.destroyed || !socket.writable)) socket = this.idle.pop();
    socket ??= await this.open();
    socket.setTimeout(this.target.timeoutMs);
    await writeAll(socket, data, this.target, this.protocol);
    if (this.closed || socket.destroyed || this.idle.length >= this.size) {
      socket.end();
      return;
    }
    socket.setTimeout(this.idleMs);
    this.idle.push(socket);
  }

  private async open(): Promise<Socket> {
    const socket = await connectTcp(this.target, this.protocol);
    socket.on('timeout', () => {
      // idle too long: let it go; in use: writeAll's own listener fails the write
      if (this.idle.includes(socket)) socket.end();
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      const i = this.idle.indexOf(socket);
      if (i >= 0) this.idle.splice(i, 1);
    });
    // a log server has nothing to say; its data is discarded so its close is seen
    socket.resume();
    return socket;
  }

  /** Closes the idle connections; connections in use are closed when their write is done. */
  close(): void {
    this.closed = true;
    for (const s of this.idle.splice(0)) s.end();
  }
}
