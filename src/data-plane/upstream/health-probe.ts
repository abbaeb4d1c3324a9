import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';

export type NetworkErrorKind = 'connect' | 'timeout' | 'reset' | 'tls';

/** What one attempt (a probe or a proxied request) told us about a node. */
export type ProbeOutcome = { status: number } | { error: NetworkErrorKind } | { connected: true };

export interface ProbeTarget {
  type: 'http' | 'https' | 'tcp';
  /** Address to connect to: a hostname or an IP literal without brackets. */
  address: string;
  port: number;
  timeoutMs: number;
  /** http(s) only. */
  path?: string;
  /** http(s) only; default GET. */
  method?: string;
  /** http(s) only: sent with its Content-Length when not empty. */
  body?: string;
  /** Host header (and TLS server name, unless it is an IP). */
  hostHeader?: string;
  headers?: Record<string, string>;
  verifyCertificate?: boolean;
}

export type Probe = (target: ProbeTarget) => Promise<ProbeOutcome>;

const CONNECT_CODES = new Set([
  'ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL', 'EHOSTDOWN',
]);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT']);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET']);
const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID',
  'EPROTO',
]);

/** Maps a socket-level error to the four kinds health checks count. */
export function classifyNetworkError(err: unknown): NetworkErrorKind {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (CONNECT_CODES.has(code)) return 'connect';
    if (TIMEOUT_CODES.has(code)) return 'timeout';
    if (TLS_CODES.has(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_') || code.startsWith('CERT_')) {
      return 'tls';
    }
    if (RESET_CODES.has(code)) return 'reset';
  }
  return 'reset';
}

function withTimeout(
  timeoutMs: number,
  start: (finish: (o: ProbeOutcome) => void) => () => void,
): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    let done = false;
    let cleanup: () => void = () => {};
    const finish = (outcome: ProbeOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      cleanup();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ error: 'timeout' }), Math.max(1, timeoutMs));
    cleanup = start(finish);
  });
}

/**
 * An HTTP(S) request (GET unless `method` says otherwise) whose outcome is the status line alone: the body is never read, and the
 * connection is never reused (`agent: false`), so a probe measures a fresh connect as a
 * real request would and leaves no sockets behind.
 */
export function httpProbe(target: ProbeTarget): Promise<ProbeOutcome> {
  return withTimeout(target.timeoutMs, (finish) => {
    const headers: Record<string, string> = { 'user-agent': 'gatehouse-healthcheck', ...target.headers };
    if (target.hostHeader !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'host')) {
      headers.host = target.hostHeader;
    }
    const options: https.RequestOptions = {
      host: target.address,
      port: target.port,
      path: target.path ?? '/',
      method: target.method ?? 'GET',
      headers,
      agent: false,
    };
    if (target.type === 'https') {
      options.rejectUnauthorized = target.verifyCertificate !== false;
      const sni = target.hostHeader?.replace(/^\[|\]$/g, '').replace(/:\d+$/, '');
      if (sni !== undefined && net.isIP(sni) === 0) options.servername = sni;
    }
    const req = (target.type === 'https' ? https : http).request(options);
    req.on('response', (res) => {
      finish({ status: res.statusCode ?? 0 });
      res.destroy();
    });
    req.on('error', (err) => finish({ error: classifyNetworkError(err) }));
    if (target.body !== undefined && target.body !== '') {
      req.setHeader('content-length', Buffer.byteLength(target.body));
      req.end(target.body);
    } else {
      req.end();
    }
    return () => req.destroy();
  });
}

/** A TCP connect; success is the handshake completing. */
export function tcpProbe(target: ProbeTarget): Promise<ProbeOutcome> {
  return withTimeout(target.timeoutMs, (finish) => {
    const socket = net.connect({ host: target.address, port: target.port });
    socket.on('connect', () => finish({ connected: true }));
    socket.on('error', (err) => finish({ error: classifyNetworkError(err) }));
    return () => socket.destroy();
  });
}

export const defaultProbe: Probe = (target) => (target.type === 'tcp' ? tcpProbe(target) : httpProbe(target));
