// The dashboard's static files at `/ui/` on the Admin listener (issue 13 §1). They are
// served without a key: the app holds none until the user signs in, and every Admin API
// call it makes carries the key itself. The bundle is built by `npm run build` (vite,
// dashboard/) into dist/dashboard/; its assets are fingerprinted, so they are cached for
// good, while index.html is revalidated on every load.
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const DASHBOARD_PREFIX = '/ui';

/** dist/src/admin-api/ → dist/dashboard/ (where vite writes the bundle). */
export const DEFAULT_DASHBOARD_DIR = fileURLToPath(new URL('../../dashboard/', import.meta.url));

// The bundle has no inline script or style (vite is configured for it), so nothing but
// same-origin files may run or style the page; the app only talks to its own origin.
export const DASHBOARD_CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "font-src 'self'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
};

// A fingerprinted asset name as vite writes it: letters, digits, `-`, `_`, `.` only, so no
// separator or `..` can reach outside assets/.
const ASSET_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

const IMMUTABLE = 'public, max-age=31536000, immutable';

export function isDashboardPath(path: string): boolean {
  return path === DASHBOARD_PREFIX || path.startsWith(`${DASHBOARD_PREFIX}/`);
}

/** Answers a request whose path satisfies isDashboardPath. */
export async function serveDashboard(req: IncomingMessage, res: ServerResponse, path: string, dir = DEFAULT_DASHBOARD_DIR): Promise<void> {
  req.resume();
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') {
    sendText(res, 405, `method ${method} is not allowed on the dashboard`, { allow: 'GET, HEAD' });
    return;
  }
  if (path === DASHBOARD_PREFIX) {
    sendText(res, 301, 'moved to /ui/', { location: `${DASHBOARD_PREFIX}/` });
    return;
  }
  const rest = path.slice(DASHBOARD_PREFIX.length + 1);
  if (rest === '' || rest === 'index.html') {
    await sendFile(req, res, join(dir, 'index.html'), 'no-cache', true);
    return;
  }
  const name = assetName(rest);
  if (name === undefined) {
    sendText(res, 404, 'not found');
    return;
  }
  await sendFile(req, res, join(dir, 'assets', name), IMMUTABLE, false);
}

/** The file name of `assets/<name>`, or undefined for anything else (traversal included). */
function assetName(rest: string): string | undefined {
  if (!rest.startsWith('assets/')) return undefined;
  let name: string;
  try {
    name = decodeURIComponent(rest.slice('assets/'.length));
  } catch {
    return undefined;
  }
  return ASSET_NAME.test(name) && !name.includes('..') ? name : undefined;
}

async function sendFile(req: IncomingMessage, res: ServerResponse, file: string, cacheControl: string, isIndex: boolean): Promise<void> {
  let info;
  try {
    info = await stat(file);
  } catch {
    info = undefined;
  }
  if (info === undefined || !info.isFile()) {
    if (isIndex) sendText(res, 503, 'the dashboard is not built: run `npm run build` (it writes dist/dashboard/), then reload this page');
    else sendText(res, 404, 'not found');
    return;
  }
  const etag = `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
  const headers = {
    ...SECURITY_HEADERS,
    'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
    'cache-control': cacheControl,
    etag,
  };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  const data = await readFile(file);
  res.writeHead(200, { ...headers, 'content-length': data.length });
  res.end(req.method === 'HEAD' ? undefined : data);
}

function sendText(res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    ...extra,
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-cache',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}
