// serveDashboard on a real loopback server over a bundle written to a temporary folder:
// what a missing bundle answers, traversal, types and revalidation.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { DASHBOARD_CSP, isDashboardPath, serveDashboard } from './dashboard.js';

async function serve(dir: string): Promise<{ origin: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => void serveDashboard(req, res, (req.url ?? '/').split('?')[0]!, dir));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { origin: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

async function fetchPath(origin: string, path: string, headers: Record<string, string> = {}, method = 'GET') {
  const res = await request(`${origin}${path}`, { method: method as 'GET', headers });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

describe('the dashboard files', () => {
  let dir: string;
  let srv: Awaited<ReturnType<typeof serve>>;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-ui-'));
    await mkdir(join(dir, 'assets'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><script type="module" src="/ui/assets/app-abc123.js"></script>');
    await writeFile(join(dir, 'assets', 'app-abc123.js'), 'console.log(1)');
    await writeFile(join(dir, 'assets', 'app-abc123.css'), 'body{}');
    await writeFile(join(dir, 'secret.txt'), 'outside assets');
    srv = await serve(dir);
  });
  after(async () => {
    await srv?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('only /ui and paths under /ui/ are the dashboard', () => {
    assert.ok(isDashboardPath('/ui') && isDashboardPath('/ui/') && isDashboardPath('/ui/assets/x.js'));
    assert.ok(!isDashboardPath('/uix') && !isDashboardPath('/apisix/admin/ui'));
  });

  test('index.html and assets carry their types, the CSP and their caching', async () => {
    const index = await fetchPath(srv.origin, '/ui/');
    assert.equal(index.status, 200);
    assert.equal(index.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(index.headers['cache-control'], 'no-cache');
    assert.equal(index.headers['content-security-policy'], DASHBOARD_CSP);
    const js = await fetchPath(srv.origin, '/ui/assets/app-abc123.js');
    assert.equal(js.text, 'console.log(1)');
    assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(js.headers['x-content-type-options'], 'nosniff');
    assert.equal((await fetchPath(srv.origin, '/ui/assets/app-abc123.css')).headers['content-type'], 'text/css; charset=utf-8');
  });

  test('an unchanged file is a 304 to a request with its ETag', async () => {
    const first = await fetchPath(srv.origin, '/ui/assets/app-abc123.js');
    const again = await fetchPath(srv.origin, '/ui/assets/app-abc123.js', { 'if-none-match': String(first.headers.etag) });
    assert.equal(again.status, 304);
    assert.equal(again.text, '');
  });

  test('nothing outside assets/ is reachable, encoded or not', async () => {
    for (const path of ['/ui/secret.txt', '/ui/assets/../secret.txt', '/ui/assets/%2e%2e%2fsecret.txt', '/ui/assets/..%2fsecret.txt',
      '/ui/assets/%2Fetc%2Fpasswd', '/ui/assets/', '/ui/assets/missing-123.js', '/ui/assets/%zz']) {
      const r = await fetchPath(srv.origin, path);
      assert.equal(r.status, 404, path);
      assert.ok(!r.text.includes('outside assets'), path);
    }
  });

  test('writes are a 405; HEAD answers without a body', async () => {
    assert.equal((await fetchPath(srv.origin, '/ui/', {}, 'POST')).status, 405);
    const head = await fetchPath(srv.origin, '/ui/assets/app-abc123.js', {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.text, '');
  });

  test('without a built bundle /ui/ is a 503 saying to run npm run build', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'gatehouse-ui-empty-'));
    const bare = await serve(empty);
    try {
      const r = await fetchPath(bare.origin, '/ui/');
      assert.equal(r.status, 503);
      assert.match(r.text, /npm run build/);
      assert.equal(r.headers['content-security-policy'], DASHBOARD_CSP);
    } finally {
      await bare.close();
      await rm(empty, { recursive: true, force: true });
    }
  });
});
