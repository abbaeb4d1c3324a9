// The stream listeners of one worker (node config `stream_proxy`). TCP listeners are
// shared by every worker as the HTTP ones are: node:cluster binds them once in the
// primary, which hands each accepted connection to a worker in turn. UDP cannot be
// shared that way (the primary would hand out datagrams, not sessions; a client's
// datagrams must reach the worker holding its session), so UDP listeners are bound by
// the first worker (index 0) alone, with SO_REUSEADDR so its replacement can bind while it drains.
import { createServer, type Server, type Socket } from 'node:net';
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { Server as TlsServer, type TLSSocket, type TlsOptions } from 'node:tls';
import type { StreamProxyConfig } from '../../contracts/node-config.js';
import { logger } from '../../core/logger.js';
import { listenOn } from '../../core/listen.js';
import type { SniIndex } from '../tls/sni-index.js';
import { proxyTcp } from './tcp-proxy.js';
import { UdpProxy } from './udp-proxy.js';
import type { StreamRouter } from './stream-router.js';

export interface StreamBoundAddress { protocol: 'tcp' | 'udp'; host: string; port: number; tls: boolean }

export interface StreamSnapshotSource {
  stream(): StreamRouter;
  tls(): SniIndex;
}

export class StreamPlane {
  private readonly servers: Server[] = [];
  private readonly tlsServers: TlsServer[] = [];
  private readonly udp: UdpProxy[] = [];
  private readonly active = new Set<Socket>();
  private readonly log = logger().child({ module: 'stream' });

  constructor(private readonly config: StreamProxyConfig, private readonly source: StreamSnapshotSource,
    private readonly tlsBase: () => TlsOptions) {}

  get connections(): number {
    return this.active.size;
  }

  async listen(servesUdp: boolean): Promise<StreamBoundAddress[]> {
    const bound: StreamBoundAddress[] = [];
    const opts = { idleTimeoutMs: this.config.idle_timeout * 1000, log: this.log, active: this.active };
    for (const l of this.config.tcp) {
      let server: Server;
      if (l.tls) {
        const tlsServer = new TlsServer({ ...this.tlsBase(), allowHalfOpen: true } as TlsOptions);
        tlsServer.on('secureConnection', (socket: TLSSocket) => {
          const sni = typeof socket.servername === 'string' ? socket.servername : undefined;
          // an ssl object's `ssl_protocols` holds here as on HTTPS listeners
          if (!this.source.tls().allowsProtocol(sni, socket.getProtocol())) {
            socket.destroy();
            return;
          }
          proxyTcp(socket, this.source.stream(), sni, opts);
        });
        tlsServer.on('tlsClientError', (err: Error, socket: Socket) => {
          this.log.debug({ err: err.message, remote_addr: socket.remoteAddress }, 'stream TLS handshake failed');
          socket.destroy();
        });
        server = tlsServer;
        this.tlsServers.push(tlsServer);
      } else {
        server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => proxyTcp(socket, this.source.stream(), undefined, opts));
      }
      const addr = await listenOn(server, { host: l.host, port: l.port, tls: l.tls });
      bound.push({ protocol: 'tcp', host: addr.host, port: addr.port, tls: l.tls });
      this.servers.push(server);
    }
    if (!servesUdp) return bound;
    for (const l of this.config.udp) {
      const socket = createSocket({ type: isIPv6(l.host) ? 'udp6' : 'udp4', reuseAddr: true });
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind({ address: l.host, port: l.port, exclusive: true }, () => {
          socket.off('error', reject);
          resolve();
        });
      });
      socket.on('error', (err) => this.log.error({ err: err.message }, 'udp listener error'));
      this.udp.push(new UdpProxy(socket, () => this.source.stream(), {
        idleTimeoutMs: this.config.udp_idle_timeout * 1000, maxSessions: this.config.udp_max_sessions, log: this.log,
      }));
      bound.push({ protocol: 'udp', host: l.host, port: socket.address().port, tls: false });
    }
    return bound;
  }

  /** The certificate for clients that send no (or an unknown) SNI changed (`node.tls.default_ssl_id`'s object). */
  setDefaultSecureContext(options: TlsOptions): void {
    for (const s of this.tlsServers) s.setSecureContext(options);
  }

  private closing: Promise<void>[] | undefined;

  /** Stops accepting TCP connections and ends the UDP sessions (a datagram has nothing in flight to wait for). */
  stopAccepting(): void {
    this.closing ??= this.servers.map((s) => new Promise<void>((r) => s.close(() => r())));
    for (const u of this.udp) u.closeAll();
  }

  /** Stops accepting; open connections get until `deadline` (ms since epoch), then are destroyed. */
  async close(deadline: number): Promise<void> {
    this.stopAccepting();
    while (this.active.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const s of this.active) s.destroy();
    await Promise.all(this.closing!);
  }
}
