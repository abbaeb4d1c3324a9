// Reading request bodies and writing JSON answers for the Admin API and status listeners.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AdminError } from './errors.js';

/** APISIX's Admin API body limit. */
export const MAX_BODY_BYTES = 1.5 * 1024 * 1024;

/** Deeper JSON is refused: real configurations stay far below, and recursion elsewhere must not overflow. */
export const MAX_JSON_DEPTH = 128;

// Bytes past the limit are still read (and dropped) up to this point so the client,
// which may still be writing, reads the 413 instead of a connection reset.
const DRAIN_LIMIT_BYTES = 64 * 1024 * 1024;

const tooLarge = (): AdminError => new AdminError(413, `request body is too large: the limit is ${MAX_BODY_BYTES} bytes`);

/** Reads the whole body; throws 413 when it is larger than `limit`. Resolves an empty buffer when there is none. */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > limit) {
      drain(req);
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > limit) {
        req.off('data', onData);
        req.off('end', onEnd);
        drain(req, size);
        reject(tooLarge());
        return;
      }
      chunks.push(c);
    };
    const onEnd = (): void => resolve(Buffer.concat(chunks, size));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', (e) => reject(new AdminError(400, `invalid request body: ${e.message}`)));
  });
}

const draining = new WeakSet<IncomingMessage>();

/**
 * Reads and drops what is left of a request body, so a client still sending it reads
 * the answer instead of a broken pipe, and the connection stays usable. A body that
 * goes on past DRAIN_LIMIT_BYTES ends the connection.
 */
export function drain(req: IncomingMessage, already = 0): void {
  if (req.complete || draining.has(req)) return;
  draining.add(req);
  let seen = already;
  req.on('data', (c: Buffer) => {
    seen += c.length;
    if (seen > DRAIN_LIMIT_BYTES) req.destroy();
  });
  req.resume();
}

/**
 * Content types a JSON body may arrive with. Besides JSON itself: none at all, text/plain,
 * and application/x-www-form-urlencoded, which is what `curl -d '{...}'` sends, so the
 * command lines of APISIX's documentation keep working.
 */
export function isAcceptedContentType(header: string | undefined): boolean {
  if (header === undefined) return true;
  const type = header.split(';')[0]!.trim().toLowerCase();
  return type === '' || type === 'application/json' || /^application\/[a-z0-9.+-]*\+json$/.test(type)
    || type === 'text/plain' || type === 'application/x-www-form-urlencoded';
}

/** Parses a JSON body; `undefined` for an empty one. Throws APISIX's `invalid request body: ...`. */
export function parseJsonBody(raw: Buffer): unknown {
  const text = raw.toString('utf8');
  if (text.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new AdminError(400, `invalid request body: ${(e as Error).message}`);
  }
  if (depthOf(value) > MAX_JSON_DEPTH) {
    throw new AdminError(400, `invalid request body: nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  return value;
}

/** Nesting depth of a JSON value, without recursion (the value may be arbitrarily deep). */
export function depthOf(value: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (d > max) max = d;
    if (max > MAX_JSON_DEPTH) return max;
    for (const child of Array.isArray(v) ? v : Object.values(v as object)) {
      if (child !== null && typeof child === 'object') stack.push([child, d + 1]);
    }
  }
  return max;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = body === undefined ? '' : `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    ...headers,
    ...(text === '' ? {} : { 'content-type': 'application/json' }),
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}
