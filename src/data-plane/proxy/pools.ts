import { createHash } from 'node:crypto';
import type { Ssl, Upstream } from '../../contracts/resources.js';
import type { BalancerNode } from '../../contracts/balancer.js';
import { H2SessionRegistry } from './h2-sessions.js';
import { NodePool } from '../http1-client/pool.js';

// One keep-alive pool per (origin, connection settings). Pools outlive config
// snapshots: an upstream whose nodes did not change keeps its warm connections.

export interface PoolSettings {
  scheme: 'http' | 'https' | 'grpc' | 'grpcs' | 'http2';
  connectTimeoutMs: number;
  size: number;
  idleTimeoutMs: number;
  maxRequests: number;
  verifyTls: boolean;
  /** The certificate (chain) and key presented to https upstreams that ask for one. */
  clientCert?: string;
  clientKey?: string;
  /** Short digest of clientCert + clientKey: pools are keyed by the identity they present. */
  clientIdentity?: string;
  servername?: string;
}

/**
 * `clientCert` is the upstream's inline `tls.client_cert`/`client_key` pair, or the
 * ssl object `tls.client_cert_id` names, resolved by the snapshot builder.
 */
export function poolSettingsOf(up: Upstream, connectTimeoutMs: number,
  clientCert: { cert: string; key: string } | undefined = inlineClientCert(up)): PoolSettings {
  const kp = up.keepalive_pool ?? {};
  return {
    scheme: up.scheme ?? 'http',
    connectTimeoutMs,
    size: kp.size ?? 320,
    idleTimeoutMs: (kp.idle_timeout ?? 60) * 1000,
    maxRequests: kp.requests ?? 1000,
    verifyTls: up.tls?.verify ?? false,
    clientCert: clientCert?.cert,
    clientKey: clientCert?.key,
    clientIdentity: clientCert === undefined ? undefined
      : createHash('sha256').update(clientCert.cert).update('\0').update(clientCert.key).digest('base64url').slice(0, 22),
    servername: up.pass_host === 'rewrite' ? up.upstream_host : undefined,
  };
}

function inlineClientCert(up: Upstream): { cert: string; key: string } | undefined {
  const t = up.tls;
  return t?.client_cert !== undefined && t.client_key !== undefined ? { cert: t.client_cert, key: t.client_key } : undefined;
}

export class PoolRegistry {
  private readonly pools = new Map<string, NodePool>();
  /**
   * The hot path's way in: a snapshot's settings object and node stay the same from request
   * to request, so the pool is found without building the key. Entries go with the snapshot.
   */
  private readonly recent = new WeakMap<PoolSettings, WeakMap<BalancerNode, NodePool>>();
  /** HTTP/2 sessions to grpc/grpcs upstreams, swept and closed with the pools. */
  readonly h2 = new H2SessionRegistry();

  get(node: BalancerNode, s: PoolSettings): NodePool {
    let byNode = this.recent.get(s);
    const known = byNode?.get(node);
    if (known !== undefined && !known.closed) {
      known.used = true;
      return known;
    }
    const pool = this.byKey(node, s);
    if (byNode === undefined) this.recent.set(s, (byNode = new WeakMap()));
    byNode.set(node, pool);
    return pool;
  }

  private byKey(node: BalancerNode, s: PoolSettings): NodePool {
    const key = `${s.scheme}|${node.host}|${node.port}|${s.connectTimeoutMs}|${s.size}|${s.idleTimeoutMs}|${s.maxRequests}|${s.verifyTls}|${s.servername ?? ''}|${s.clientIdentity ?? ''}`;
    let pool = this.pools.get(key);
    if (pool === undefined) {
      pool = new NodePool(node.host, node.port, {
        tls: s.scheme === 'https',
        connectTimeoutMs: s.connectTimeoutMs,
        size: s.size,
        idleTimeoutMs: s.idleTimeoutMs,
        maxRequests: s.maxRequests,
        verifyTls: s.verifyTls,
        servername: s.servername,
        clientCert: s.clientCert,
        clientKey: s.clientKey,
      });
      this.pools.set(key, pool);
    } else {
      pool.used = true;
    }
    return pool;
  }

  /**
   * Called periodically: closes pools that no request used since the previous sweep.
   * A flag instead of a timestamp keeps the hot path free of clock reads.
   */
  sweep(): void {
    this.h2.sweep();
    for (const [key, pool] of this.pools) {
      if (!pool.used && pool.busy === 0) {
        this.pools.delete(key);
        void pool.close();
      }
      pool.used = false;
    }
  }

  async closeAll(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all([...all.map((p) => p.close()), this.h2.closeAll()]);
  }
}
