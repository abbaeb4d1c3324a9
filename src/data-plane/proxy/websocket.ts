import type { Duplex } from 'node:stream';
import type { CompiledRoute } from '../snapshot.js';
import type { Exchange } from '../exchange.js';
import type { PoolRegistry } from './pools.js';
import type { ResponseHandler } from '../http1-client/connection.js';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js';
import { hostHeader } from './forward.js';
import { upstreamFailure } from '../http1-client/errors.js';
import { classifyUpstreamError } from './upstream-errors.js';
import { recordAttempt } from './attempt-record.js';
import type { ErrorCode } from '../../core/errors.js';

/** A refusal's body is held whole before it goes to the client (it runs through the response phases): this much at most. */
const MAX_REFUSAL_BODY = 64 * 1024;

/** How the request lifecycle follows an upgrade through. */
export interface WebSocketHooks {
  /** The upstream answered 101: its headers (flat, `server` dropped) go through header_filter; returns what the client gets. */
  head(status: number, flat: string[]): string[] | Promise<string[]>;
  /** No handshake happened (no node, a failure, a timeout): the lifecycle answers with this error. */
  failed(code: ErrorCode): void;
  /** The upstream refused the upgrade with an ordinary answer: the client gets it (hop-by-hop fields already dropped). */
  refused(status: number, reason: string, flat: string[], body: Buffer): void;
  /** The client has the 101 and the sockets are spliced. */
  spliced(): void;
  /** Both sockets have closed, after a splice. */
  closed(): void;
}

/**
 * Proxies an HTTP/1.1 Upgrade (WebSocket) once the request phases have accepted it.
 * The upstream client performs the handshake while the client connection is held; only when
 * the upstream answers 101 is the client socket taken from the HTTP layer, given the
 * 101 and spliced to the upstream socket. A refusal (any other answer) is passed on to the
 * client; a failure before the splice is an ordinary HTTP error written by the lifecycle.
 */
export function proxyWebSocket(ex: Exchange, route: CompiledRoute, pools: PoolRegistry, serverHeader: string, hooks: WebSocketHooks): void {
  const { req } = ex;
  const up = route.upstream!;
  const node = up.pick({ hashKey: route.hashKey?.(ex.vars) });
  if (node === undefined) {
    hooks.failed(up.noNodeError);
    return;
  }
  ex.upstreamNode = node;
  const f = ex.vars.facts;
  const host = ex.upstreamHost ?? hostHeader(route, node, req.headers.host);
  ex.upstreamHostSent = host;
  const headers = upstreamRequestHeaders(req, {
    host, remoteAddr: f.remoteAddr, proto: f.scheme, clientHost: req.headers.host ?? f.host, serverPort: f.serverPort,
  }, ex.requestHeaderEdits);
  const started = performance.now();
  let abort: ((err?: Error) => void) | undefined;
  let refusal: { status: number; reason: string; flat: string[]; chunks: Buffer[]; size: number } | undefined;
  // A client that leaves before the upgrade ends the attempt; that says nothing about the node.
  const onClientGone = (): void => {
    if (!ex.res.writableFinished) ex.clientGone = true;
    abort?.();
  };
  ex.res.onClose(onClientGone);
  const handler: ResponseHandler = {
    onConnect(a) {
      abort = a;
      if (ex.clientGone) a();
    },
    // A refused upgrade (any status but 101) is an ordinary answer, kept whole and passed on as nginx does.
    onHeaders(status, flat, _resume, reason) {
      up.report(node, { status });
      refusal = { status, reason, flat: clientResponseHeaders(flat, serverHeader), chunks: [], size: 0 };
      return true;
    },
    onData(chunk) {
      const r = refusal!;
      r.size += chunk.length;
      if (r.size > MAX_REFUSAL_BODY) {
        abort?.(upstreamFailure('GH_UPSTREAM_BAD_RESPONSE', `upstream refused the upgrade with a body over ${MAX_REFUSAL_BODY} bytes`));
        return false;
      }
      r.chunks.push(chunk);
      return true;
    },
    onComplete() {
      const r = refusal!;
      ex.upstreamMs = performance.now() - started;
      recordAttempt(ex.trace, node, started, r.status);
      if (!ex.clientGone) hooks.refused(r.status, r.reason, r.flat, Buffer.concat(r.chunks, r.size));
    },
    onUpgrade(statusCode, rawHeaders, upstream) {
      up.report(node, { status: statusCode });
      ex.upstreamMs = performance.now() - started;
      recordAttempt(ex.trace, node, started, statusCode);
      if (ex.clientGone) {
        upstream.destroy();
        return;
      }
      const flat: string[] = [];
      for (let i = 0; i < rawHeaders.length; i += 2) {
        const name = rawHeaders[i]!;
        if (name.length === 6 && name.toLowerCase() === 'server') continue;
        flat.push(name, rawHeaders[i + 1]!);
      }
      flat.push('Server', serverHeader);
      const out = hooks.head(statusCode, flat);
      if (Array.isArray(out)) splice(out, upstream);
      else out.then((h) => splice(h, upstream), () => upstream.destroy());
    },
    onError(err) {
      const failure = classifyUpstreamError(err);
      if (!ex.clientGone) up.report(node, { error: failure.kind });
      ex.upstreamMs = performance.now() - started;
      recordAttempt(ex.trace, node, started, refusal?.status, err);
      if (!ex.clientGone) hooks.failed(failure.code);
    },
  };
  /** Hands the client socket over, sends it the 101 and joins the two sockets. */
  const splice = (out: string[], upstream: Duplex): void => {
    if (ex.clientGone) {
      upstream.destroy();
      return;
    }
    let head101 = `HTTP/1.1 101 Switching Protocols\r\n`;
    for (let i = 0; i < out.length; i += 2) head101 += `${out[i]!}: ${out[i + 1]!}\r\n`;
    const conn = ex.upgradeConnection!;
    const rest = conn.detach();
    const client: Duplex = conn.socket;
    client.write(head101 + '\r\n');
    if (rest.length > 0) upstream.write(rest);
    hooks.spliced();
    let open = 2;
    const oneClosed = (): void => { if (--open === 0) hooks.closed(); };
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.on('close', () => { client.destroy(); oneClosed(); });
    client.on('close', () => { upstream.destroy(); oneClosed(); });
    upstream.pipe(client);
    client.pipe(upstream);
  };
  pools.get(node, route.pool!).dispatch({
    path: ex.upstreamUri,
    method: 'GET',
    headers,
    body: null,
    upgrade: 'websocket',
    readTimeoutMs: route.readTimeoutMs,
  }, handler);
}
