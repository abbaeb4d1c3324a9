import type { ClientResponse } from '../client-response.js';
import { ERRORS, type ErrorCode } from '../../core/errors.js';

const bodies = new Map<string, Buffer>();

function bodyOf(message: string): Buffer {
  let b = bodies.get(message);
  if (b === undefined) {
    b = Buffer.from(JSON.stringify({ error_msg: message }) + '\n');
    if (bodies.size < 256) bodies.set(message, b);
  }
  return b;
}

/** Ends a response with the catalogue's status and a JSON `error_msg`. */
export function sendError(res: ClientResponse, code: ErrorCode, serverHeader: string, message: string = ERRORS[code].message, close = false): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = bodyOf(message);
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': body.length,
    server: serverHeader,
  };
  if (close) headers.connection = 'close';
  res.writeHead(ERRORS[code].status, headers, undefined, true);
  res.end(body);
}

/** Headers (as `name: value\r\n` lines) and JSON body of an error the HTTP layer answers itself (400, 408, 431…). */
export function errorBody(message: string, serverHeader: string): { headers: string; body: Buffer } {
  return { headers: `server: ${serverHeader}\r\ncontent-type: application/json\r\n`, body: bodyOf(message) };
}
