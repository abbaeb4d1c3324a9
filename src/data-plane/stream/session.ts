// One stream session (a TCP connection or a UDP client's datagrams) as stream plugins see
// it: its variables, and the two phases (`preread` in plugin order once the route is
// matched, `log` once when the session ends, whatever ended it).
import type { StreamRefusal, StreamSession } from '../../contracts/plugin.js';
import type { Logger } from '../../core/logger.js';
import type { CompiledStreamRoute } from './stream-router.js';

export interface SessionFacts {
  protocol: 'tcp' | 'udp';
  remoteAddr: string;
  remotePort: number;
  serverAddr: string;
  serverPort: number;
  sni: string | undefined;
}

export class ProxySession implements StreamSession {
  readonly shared = new Map<string, unknown>();
  readonly startedAt = performance.now();
  bytesReceived = 0;
  bytesSent = 0;
  upstreamAddr: string | undefined;
  /** nginx's stream status: 200 ended normally, 403 refused by a plugin, 502 upstream failed, 503 limited. */
  status = 200;
  private logged = false;

  constructor(readonly facts: SessionFacts, readonly route: CompiledStreamRoute, readonly log: Logger) {}

  get protocol(): 'tcp' | 'udp' { return this.facts.protocol; }
  get remoteAddr(): string { return this.facts.remoteAddr; }
  get routeId(): string { return this.route.id; }

  var(name: string): unknown {
    const f = this.facts;
    switch (name) {
      case 'remote_addr': return f.remoteAddr;
      case 'remote_port': return f.remotePort;
      case 'server_addr': return f.serverAddr;
      case 'server_port': return f.serverPort;
      case 'ssl_server_name': return f.sni;
      case 'protocol': return f.protocol === 'tcp' ? 'TCP' : 'UDP';
      case 'route_id': return this.route.id;
      case 'bytes_received': return this.bytesReceived;
      case 'bytes_sent': return this.bytesSent;
      case 'upstream_addr': return this.upstreamAddr;
      case 'session_time': return (performance.now() - this.startedAt) / 1000;
      case 'status': return this.status;
      default: return undefined;
    }
  }

  /** Runs every plugin's preread in order; the first refusal ends it (and sets the status). */
  async preread(): Promise<StreamRefusal | undefined> {
    for (const { plugin, prepared } of this.route.plugins) {
      const refusal = await plugin.stream!.preread?.(prepared, this);
      if (refusal !== undefined) {
        this.status = refusal.status;
        return refusal;
      }
    }
    return undefined;
  }

  /** The log phase, once: slots are given back, metrics and the session line written. */
  finish(): void {
    if (this.logged) return;
    this.logged = true;
    for (const { plugin, prepared } of this.route.plugins) {
      try {
        plugin.stream!.log?.(prepared, this);
      } catch (err) {
        this.log.error({ plugin: plugin.name, err: (err as Error).message }, 'stream plugin log phase failed');
      }
    }
    this.log.debug({
      stream_route_id: this.route.id, protocol: this.facts.protocol, remote_addr: this.facts.remoteAddr,
      server_addr: this.facts.serverAddr, server_port: this.facts.serverPort, upstream_addr: this.upstreamAddr,
      bytes_received: this.bytesReceived, bytes_sent: this.bytesSent, status: this.status,
      session_time: (performance.now() - this.startedAt) / 1000,
    }, 'stream session ended');
  }
}
