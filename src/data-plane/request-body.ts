import type { HttpRequest } from './http1/request.js';
import { GatehouseError } from '../core/errors.js';

const EMPTY = Buffer.alloc(0);

/** What reading and replacing a body touch of a request (its Exchange). */
export interface BodyHolder {
  readonly req: HttpRequest;
  readonly bodyTooLarge: boolean;
  bufferedBody: Buffer | undefined;
  bodyReading: Promise<Buffer> | undefined;
  requestHeaderEdits: Map<string, string | undefined> | undefined;
  readonly vars: { body: Buffer | undefined };
}

/**
 * Reads the whole request body into memory for a plugin that asked for it (once per
 * request: later calls get the same buffer). At most `limit` bytes: a declared length
 * over it is refused before anything is read, a streamed one as soon as it passes it,
 * both as 413. From then on the body goes upstream from memory (`ex.bufferedBody`),
 * with a Content-Length, and can be retried. Requests whose plugins never ask keep
 * streaming, untouched.
 */
export function readRequestBody(ex: BodyHolder, limit: number): Promise<Buffer> {
  if (ex.bufferedBody !== undefined) return Promise.resolve(ex.bufferedBody);
  if (ex.bodyReading !== undefined) return ex.bodyReading;
  const stream = ex.req.body;
  if (stream === null) {
    setBufferedBody(ex, EMPTY, false);
    return Promise.resolve(EMPTY);
  }
  const declared = ex.req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    return Promise.reject(tooLarge(limit));
  }
  ex.bodyReading = new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        stream.destroy();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      setBufferedBody(ex, body, false);
      resolve(body);
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(ex.bodyTooLarge ? new GatehouseError('GH_ERR_CLIENT_BODY_TOO_LARGE') : err);
    };
    const cleanup = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
  });
  return ex.bodyReading;
}

function tooLarge(limit: number): GatehouseError {
  return new GatehouseError('GH_ERR_CLIENT_BODY_TOO_LARGE', `request body larger than ${limit} bytes`);
}

/**
 * The body sent upstream becomes `body` (a plugin's replacement, or what was read):
 * Content-Length follows it, any Transfer-Encoding of the client's is gone.
 */
export function setBufferedBody(ex: BodyHolder, body: Buffer, replaced: boolean): void {
  ex.bufferedBody = body;
  // what post_arg_*, request_body and graphql_* read
  ex.vars.body = body;
  if (replaced || ex.req.body !== null || ex.req.headers['content-length'] !== undefined) {
    (ex.requestHeaderEdits ??= new Map()).set('content-length', String(body.length));
  }
}
