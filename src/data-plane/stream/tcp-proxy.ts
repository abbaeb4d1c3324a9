// One TCP (or TLS-terminated) stream connection: matched, run through the stream plugins,
// connected to an upstream node picked by the upstream's balancer (the next node on a
// connect failure, up to `retries`), then spliced both ways with backpressure (pipe
// pauses the side whose peer's buffer is full), half-close passed on (a FIN one way ends
// that direction only), and closed after `idle_timeout` with no byte either way.
import { connect, type Socket } from 'node:net';
import type { Logger } from '../../core/logger.js';
import type { BalancerNode } from '../../contracts/balancer.js';
import { classifyNetworkError } from '../upstream/health-probe.js';
import type { UpstreamRuntime } from '../upstream/upstream-runtime.js';
import { ProxySession, type SessionFacts } from './session.js';
import type { StreamRouter } from './stream-router.js';

export interface TcpProxyOptions {
  idleTimeoutMs: number;
  log: Logger;
  /** Sessions still open (for drain). */
  active: Set<Socket>;
}

const unmapped = (addr: string | undefined): string => (addr?.startsWith('::ffff:') ? addr.slice(7) : addr ?? '');

export function factsOf(socket: Socket, protocol: 'tcp' | 'udp', sni: string | undefined): SessionFacts {
  return {
    protocol,
    remoteAddr: unmapped(socket.remoteAddress),
    remotePort: socket.remotePort ?? 0,
    serverAddr: unmapped(socket.localAddress),
    serverPort: socket.localPort ?? 0,
    sni: sni?.toLowerCase(),
  };
}

/** Connects to the nodes of `upstream` in balancer order until one answers; undefined when none did. */
function connectUpstream(upstream: UpstreamRuntime, session: ProxySession): Promise<{ socket: Socket; node: BalancerNode } | undefined> {
  const tried = new Set<string>();
  const attempts = 1 + Math.min(upstream.retries, Math.max(0, upstream.nodes.length - 1));
  return new Promise((resolve) => {
    const attempt = (n: number): void => {
      const node = upstream.pick({ tried, hashKey: session.remoteAddr });
      if (node === undefined || n >= attempts) {
        resolve(undefined);
        return;
      }
      tried.add(node.id);
      const socket = connect({ host: node.host, port: node.port, allowHalfOpen: true });
      const timer = setTimeout(() => socket.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })),
        upstream.timeouts.connectMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        upstream.report(node, { status: 200 });
        resolve({ socket, node });
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        upstream.report(node, { error: classifyNetworkError(err) });
        session.log.warn({ stream_route_id: session.routeId, node: node.id, err: err.message }, 'stream upstream connect failed');
        attempt(n + 1);
      });
    };
    attempt(0);
  });
}

/** Takes over an accepted (and, on TLS listeners, handshaken) client socket. */
export function proxyTcp(client: Socket, router: StreamRouter, sni: string | undefined, opts: TcpProxyOptions): void {
  const facts = factsOf(client, 'tcp', sni);
  const route = router.match(facts);
  if (route === undefined) {
    opts.log.debug({ ...facts }, 'no stream route matched; connection closed');
    client.destroy();
    return;
  }
  opts.active.add(client);
  client.once('close', () => opts.active.delete(client));
  client.pause();
  const session = new ProxySession(facts, route, opts.log);
  client.on('error', () => undefined);
  void (async () => {
    const refusal = await session.preread();
    if (refusal !== undefined) {
      session.log.info({ stream_route_id: route.id, remote_addr: facts.remoteAddr, reason: refusal.reason }, 'stream connection refused');
      client.destroy();
      session.finish();
      return;
    }
    if (client.destroyed) {
      session.finish();
      return;
    }
    const up = route.upstream === undefined ? undefined : await connectUpstream(route.upstream, session);
    if (up === undefined || client.destroyed) {
      if (up === undefined) session.status = 502;
      up?.socket.destroy();
      client.destroy();
      session.finish();
      return;
    }
    splice(client, up.socket, up.node, route.upstream!, session, opts.idleTimeoutMs);
  })().catch((err: unknown) => {
    opts.log.error({ err, stream_route_id: route.id }, 'stream connection failed');
    session.status = 500;
    client.destroy();
    session.finish();
  });
}

function splice(client: Socket, upstream: Socket, node: BalancerNode, runtime: UpstreamRuntime, session: ProxySession,
  idleTimeoutMs: number): void {
  session.upstreamAddr = node.id;
  runtime.acquire(node);
  const started = performance.now();
  client.on('data', (chunk: Buffer) => { session.bytesReceived += chunk.length; });
  upstream.on('data', (chunk: Buffer) => { session.bytesSent += chunk.length; });
  client.pipe(upstream);
  upstream.pipe(client);
  // reads and writes both reset a socket's timer, so the client's covers both directions
  client.setTimeout(idleTimeoutMs, () => {
    client.destroy();
    upstream.destroy();
  });
  upstream.on('error', (err) => {
    session.status = 502;
    session.log.debug({ stream_route_id: session.routeId, node: node.id, err: err.message }, 'stream upstream connection failed');
    client.destroy();
  });
  client.on('error', () => upstream.destroy());
  let open = 2;
  const closed = (): void => {
    if (--open > 0) {
      // the other side is gone and cannot end this one cleanly once it errored
      return;
    }
    runtime.release(node, performance.now() - started, session.status === 502);
    session.finish();
  };
  client.once('close', () => {
    if (!upstream.writableEnded) upstream.destroy();
    closed();
  });
  upstream.once('close', () => {
    if (!client.writableEnded) client.destroy();
    closed();
  });
  client.resume();
}
