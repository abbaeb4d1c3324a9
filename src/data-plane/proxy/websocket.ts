import type { HttpRequest } from '../http1/request.js';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { CompiledRoute } from '../snapshot.js';
import type { RequestVars } from '../request-vars.js';
import type { PoolRegistry } from './pools.js';
import { upstreamRequestHeaders } from './headers.js';
import { classifyUpstreamError } from './upstream-errors.js';
import { ERRORS } from '../../core/errors.js';
import { writeRawError } from './error-response.js';
import type { Socket } from 'node:net';

/**
 * Proxies an HTTP/1.1 Upgrade (WebSocket) handshake, then splices the two sockets.
 * undici performs the upstream handshake; the client gets the upstream's 101 as is.
 */
export function proxyWebSocket(
  req: HttpRequest, client: Duplex, head: Buffer, route: CompiledRoute, vars: RequestVars,
  upstreamUri: string, pools: PoolRegistry, serverHeader: string,
): void {
  const up = route.upstream!;
  const node = up.pick({ hashKey: route.hashKey?.(vars) });
  if (node === undefined) {
    const e = ERRORS.GH_ERR_UPSTREAM_NO_HEALTHY_NODE;
    writeRawError(client as Socket, e.status, 'Service Unavailable', e.message, serverHeader);
    return;
  }
  const f = vars.facts;
  const host = route.passHost === 'rewrite' && route.upstreamHost !== undefined ? route.upstreamHost
    : route.passHost === 'node' ? `${node.host}:${node.port}` : (req.headers.host ?? node.host);
  const headers = upstreamRequestHeaders(req, {
    host, remoteAddr: f.remoteAddr, proto: f.scheme, clientHost: req.headers.host ?? f.host, serverPort: f.serverPort,
  });
  let abort: ((err?: Error) => void) | undefined;
  // A client that leaves before the upgrade ends the attempt; that says nothing about the node.
  let clientGone = false;
  const onClientGone = (): void => {
    if (upgraded) return;
    clientGone = true;
    abort?.();
  };
  let upgraded = false;
  client.on('error', onClientGone);
  client.on('close', onClientGone);
  const handler: Dispatcher.DispatchHandler = {
    onConnect(a) {
      abort = a;
      if (clientGone) a();
    },
    onHeaders(statusCode) {
      // The upstream refused the upgrade: undici reports it through onError below.
      void statusCode;
      return true;
    },
    onData() { return true; },
    onComplete() { client.destroy(); },
    onUpgrade(statusCode, rawHeaders, upstream) {
      upgraded = true;
      up.report(node, { status: statusCode });
      let head101 = `HTTP/1.1 ${statusCode} Switching Protocols\r\n`;
      const raw = rawHeaders as unknown as Buffer[];
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i]!.toString('latin1');
        if (name.toLowerCase() === 'server') continue;
        head101 += `${name}: ${raw[i + 1]!.toString('latin1')}\r\n`;
      }
      head101 += `Server: ${serverHeader}\r\n\r\n`;
      client.write(head101);
      if (head.length > 0) upstream.write(head);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.pipe(client);
      client.pipe(upstream);
    },
    onError(err) {
      if (clientGone) return;
      const failure = classifyUpstreamError(err);
      up.report(node, { error: failure.kind });
      const e = ERRORS[failure.code];
      writeRawError(client as Socket, e.status, e.status === 504 ? 'Gateway Timeout' : 'Bad Gateway', e.message, serverHeader);
    },
  };
  pools.get(node, route.pool!).dispatch({
    path: upstreamUri,
    method: 'GET',
    headers,
    upgrade: 'websocket',
    headersTimeout: route.readTimeoutMs,
  }, handler);
}
