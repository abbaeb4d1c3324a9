import type { IncomingHttpHeaders } from 'node:http2';

export interface Http2RequestHead {
  method: string;
  /** `:path`, the request-target in origin form (or `*` for OPTIONS). */
  url: string;
  /** node's header object without pseudo-headers; `host` is the `:authority`, cookies joined with `; `. */
  headers: IncomingHttpHeaders;
  /** [name, value, …] as the HTTP/1.1 layer gives them (host first), what the upstream request is built from. */
  rawHeaders: string[];
  /** Header bytes as HPACK-decoded (names, values, 32 per field as RFC 9113 counts them): nginx `request_length`. */
  headBytes: number;
}

/**
 * The lifecycle's view of an HTTP/2 header block (RFC 9113 §8.3): `:method`, `:path` and
 * `:authority` become method, target and Host, the way HTTP/1.1 reads them; split `cookie`
 * fields are joined (§8.2.3) since the upstream leg is HTTP/1.1. Returns undefined when
 * the request cannot be served on this layer (CONNECT, extended or not: no tunnels here).
 * nghttp2 has already refused malformed blocks (connection-specific fields, uppercase
 * names, missing or repeated pseudo-headers) with a stream reset.
 */
export function http2RequestHead(raw: readonly string[]): Http2RequestHead | undefined {
  let method = '', path = '', authority: string | undefined;
  let host: string | undefined;
  const headers: IncomingHttpHeaders = {};
  const rawHeaders: string[] = [];
  let cookies: string[] | undefined;
  let headBytes = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!, value = raw[i + 1]!;
    headBytes += name.length + value.length + 32;
    if (name.charCodeAt(0) === 58 /* : */) {
      if (name === ':method') method = value;
      else if (name === ':path') path = value;
      else if (name === ':authority') authority = value;
      continue;
    }
    if (name === 'cookie') {
      (cookies ??= []).push(value);
      continue;
    }
    if (name === 'host') {
      host ??= value;
      continue;
    }
    rawHeaders.push(name, value);
    const prev = headers[name];
    if (prev === undefined) headers[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else if (name === 'set-cookie') headers[name] = [prev, value];
    else headers[name] = `${prev}, ${value}`;
  }
  if (method === 'CONNECT' || path === '') return undefined;
  // §8.3.1: the authority wins over a Host field that differs from it.
  const hostValue = authority ?? host;
  if (hostValue !== undefined) {
    headers.host = hostValue;
    rawHeaders.unshift('host', hostValue);
  }
  if (cookies !== undefined) {
    const cookie = cookies.join('; ');
    headers.cookie = cookie;
    rawHeaders.push('cookie', cookie);
  }
  return { method, url: path, headers, rawHeaders, headBytes };
}
