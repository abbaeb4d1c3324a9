// UDP stream routes. A session is one client address (ip:port): its first datagram is
// matched and run through the stream plugins (later datagrams wait, at most 64 of them),
// then every datagram goes to one upstream node over the session's own connected socket,
// and what the node sends back returns to the client from the listener's address. A
// session with no datagram either way for `udp_idle_timeout` is forgotten (its plugins'
// log phase runs then); at most `udp_max_sessions` live at once, new clients' datagrams
// beyond that are dropped. An ICMP "port unreachable" from a node counts as a failed
// connect for its passive health check.
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Logger } from '../../core/logger.js';
import { classifyNetworkError } from '../upstream/health-probe.js';
import { ProxySession } from './session.js';
import type { StreamRouter } from './stream-router.js';

const MAX_WAITING = 64;

interface UdpSession {
  session: ProxySession | undefined;
  upstream: UdpSocket | undefined;
  waiting: Buffer[] | undefined;
  lastSeen: number;
  closed: boolean;
}

export interface UdpProxyOptions {
  idleTimeoutMs: number;
  maxSessions: number;
  log: Logger;
}

export class UdpProxy {
  private readonly sessions = new Map<string, UdpSession>();
  private readonly sweep: NodeJS.Timeout;
  private droppedWarned = 0;

  constructor(private readonly listener: UdpSocket, private readonly router: () => StreamRouter, private readonly opts: UdpProxyOptions) {
    listener.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    const every = Math.max(50, Math.min(1000, opts.idleTimeoutMs / 4));
    this.sweep = setInterval(() => this.expire(), every);
    this.sweep.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    const key = `${rinfo.address}|${rinfo.port}`;
    let s = this.sessions.get(key);
    if (s === undefined) {
      if (this.sessions.size >= this.opts.maxSessions) {
        if (Date.now() - this.droppedWarned > 10_000) {
          this.droppedWarned = Date.now();
          this.opts.log.warn({ sessions: this.sessions.size }, 'udp_max_sessions reached; datagrams of new clients are dropped');
        }
        return;
      }
      s = { session: undefined, upstream: undefined, waiting: [], lastSeen: performance.now(), closed: false };
      this.sessions.set(key, s);
      this.open(key, s, rinfo);
    }
    s.lastSeen = performance.now();
    if (s.waiting !== undefined) {
      if (s.waiting.length < MAX_WAITING) s.waiting.push(msg);
      return;
    }
    if (s.session !== undefined) s.session.bytesReceived += msg.length;
    s.upstream?.send(msg);
  }

  private open(key: string, s: UdpSession, rinfo: RemoteInfo): void {
    const addr = this.listener.address();
    const facts = {
      protocol: 'udp' as const, remoteAddr: rinfo.address.replace(/^::ffff:/, ''), remotePort: rinfo.port,
      serverAddr: addr.address.replace(/^::ffff:/, ''), serverPort: addr.port, sni: undefined,
    };
    const route = this.router().match(facts);
    if (route === undefined) {
      // not remembered: a route added later serves this client's next datagram
      s.waiting = undefined;
      s.closed = true;
      this.sessions.delete(key);
      return;
    }
    const session = s.session = new ProxySession(facts, route, this.opts.log);
    void (async () => {
      const refusal = await session.preread();
      const node = refusal === undefined ? route.upstream?.pick({ hashKey: facts.remoteAddr }) : undefined;
      if (refusal !== undefined || node === undefined || s.closed) {
        if (refusal === undefined && node === undefined) session.status = 502;
        s.waiting = undefined;
        this.close(key, s);
        return;
      }
      const upstream = s.upstream = createSocket(isIPv6(node.host) ? 'udp6' : 'udp4');
      session.upstreamAddr = node.id;
      upstream.on('message', (reply) => {
        s.lastSeen = performance.now();
        session.bytesSent += reply.length;
        this.listener.send(reply, rinfo.port, rinfo.address);
      });
      upstream.on('error', (err) => {
        route.upstream!.report(node, { error: classifyNetworkError(err) });
        session.status = 502;
        this.close(key, s);
      });
      upstream.connect(node.port, node.host, () => {
        const waiting = s.waiting ?? [];
        s.waiting = undefined;
        for (const m of waiting) {
          session.bytesReceived += m.length;
          upstream.send(m);
        }
      });
    })().catch((err: unknown) => {
      this.opts.log.error({ err, stream_route_id: route.id }, 'udp session failed');
      this.close(key, s);
    });
  }

  private close(key: string, s: UdpSession): void {
    if (s.closed) return;
    s.closed = true;
    if (this.sessions.get(key) === s) this.sessions.delete(key);
    try {
      s.upstream?.close();
    } catch {
      // already closed
    }
    s.session?.finish();
  }

  private expire(): void {
    const cutoff = performance.now() - this.opts.idleTimeoutMs;
    for (const [key, s] of this.sessions) if (s.lastSeen < cutoff) this.close(key, s);
  }

  /** Ends every session (their log phase runs) and closes the listener. */
  closeAll(): void {
    clearInterval(this.sweep);
    for (const [key, s] of this.sessions) this.close(key, s);
    try {
      this.listener.close();
    } catch {
      // already closed
    }
  }
}
