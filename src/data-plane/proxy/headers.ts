import type { HttpRequest } from '../http1/request.js';

// Header rewriting on both legs of the proxy. Works on flat [name, value, …] arrays,
// the form both the HTTP layer (rawHeaders, writeHead) and the upstream client (requests,
// parsed response heads) use natively, so no header object is built on the hot path.

/** Hop-by-hop headers (RFC 9110 §7.6.1) plus `host`, which the proxy sets itself. */
// `expect`: the gateway answers 100-continue itself and has the body by the time it forwards.
const REQUEST_DROPPED = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'expect',
  'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-for']);
const RESPONSE_DROPPED = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'server']);

export interface ForwardFacts {
  host: string;
  remoteAddr: string;
  proto: 'http' | 'https';
  /** The client's Host header (X-Forwarded-Host). */
  clientHost: string;
  serverPort: number;
}

// Lengths of the dropped names: most headers are rejected by length alone, so the hot
// loop lower-cases only the few whose length could match. (A length of 32 or more wraps
// around in the shift: such a name only takes the slower, still exact, path.)
const REQUEST_DROPPED_LENGTHS = lengthMask(REQUEST_DROPPED);
const RESPONSE_DROPPED_LENGTHS = lengthMask(RESPONSE_DROPPED);

function lengthMask(names: Set<string>): number {
  let mask = 0;
  for (const n of names) mask |= 1 << n.length;
  return mask;
}

/** Names listed in a Connection header are hop-by-hop for this message too. */
function connectionTokens(value: string | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  if ((value.length === 10 || value.length === 5) && /^(keep-alive|close)$/i.test(value)) return undefined;
  let tokens: Set<string> | undefined;
  for (const t of value.split(',')) {
    const name = t.trim().toLowerCase();
    if (name !== '' && name !== 'close' && name !== 'keep-alive' && name !== 'upgrade') (tokens ??= new Set()).add(name);
  }
  return tokens;
}

export function upstreamRequestHeaders(req: HttpRequest, f: ForwardFacts,
  edits?: ReadonlyMap<string, string | undefined>): string[] {
  const raw = req.rawHeaders;
  // Headers named in Connection, and those plugins set or removed (re-added from the
  // edits below), are dropped from the raw list too; their lengths join the mask.
  const extra = connectionTokens(req.headers.connection);
  let lengths = REQUEST_DROPPED_LENGTHS;
  if (extra !== undefined) for (const name of extra) lengths |= 1 << name.length;
  if (edits !== undefined) for (const name of edits.keys()) lengths |= 1 << name.length;
  const out: string[] = ['host', f.host];
  let xff: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if ((lengths & (1 << name.length)) === 0) {
      out.push(name, raw[i + 1]!);
      continue;
    }
    const lower = name.toLowerCase();
    if (REQUEST_DROPPED.has(lower) || (extra !== undefined && extra.has(lower)) || (edits !== undefined && edits.has(lower))) {
      if (lower === 'x-forwarded-for') xff = xff === undefined ? raw[i + 1] : `${xff}, ${raw[i + 1]}`;
      continue;
    }
    // the upstream client sets the websocket handshake's own Upgrade/Connection; the Sec-WebSocket-* pass through
    out.push(name, raw[i + 1]!);
  }
  if (edits !== undefined) {
    for (const [name, value] of edits) if (value !== undefined && name !== 'host') out.push(name, value);
  }
  out.push(
    'x-forwarded-for', xff === undefined ? f.remoteAddr : `${xff}, ${f.remoteAddr}`,
    'x-forwarded-proto', f.proto,
    'x-forwarded-host', f.clientHost,
    'x-forwarded-port', String(f.serverPort),
  );
  return out;
}

/** Upstream response headers (flat, as parsed) → the flat list for writeHead: hop-by-hop dropped, our Server set. */
export function clientResponseHeaders(raw: readonly string[], serverHeader: string): string[] {
  const out: string[] = [];
  let extra: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if ((RESPONSE_DROPPED_LENGTHS & (1 << name.length)) === 0) {
      out.push(name, raw[i + 1]!);
      continue;
    }
    const lower = name.toLowerCase();
    if (RESPONSE_DROPPED.has(lower)) {
      if (lower === 'connection') extra = connectionTokens(raw[i + 1]);
      continue;
    }
    out.push(name, raw[i + 1]!);
  }
  if (extra !== undefined) {
    for (let i = out.length - 2; i >= 0; i -= 2) if (extra.has(out[i]!.toLowerCase())) out.splice(i, 2);
  }
  out.push('server', serverHeader);
  return out;
}
