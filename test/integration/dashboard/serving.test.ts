// The built dashboard served by a real gateway's Admin listener: without a key, under the
// strict CSP, fingerprinted assets cached for good, and still behind admin.allow.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { get } from '../../helpers/http.js';

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
  + "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

describe('the dashboard at /ui', () => {
  let gw: Gateway;
  let origin: string;
  before(async () => {
    gw = await startGateway({ store: 'sqlite', adminKeys: [{ name: 'ops', key: 'admin-key-0123456789', role: 'admin' }] });
    origin = new URL(gw.adminUrl).origin;
  });
  after(async () => { await gw?.stop(); });

  test('/ui redirects to /ui/', async () => {
    const r = await get(`${origin}/ui`);
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, '/ui/');
  });

  test('index.html is served without a key, revalidated, with the CSP and no inline script or style', async () => {
    const r = await get(`${origin}/ui/`);
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(r.headers['content-security-policy'], CSP);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['referrer-policy'], 'no-referrer');
    assert.equal(r.headers['cache-control'], 'no-cache');
    assert.doesNotMatch(r.body, /<script(?![^>]*\bsrc=)[^>]*>/, 'every script has a src');
    assert.doesNotMatch(r.body, /<style|style=/);
  });

  test('the assets index.html names are fingerprinted, typed and immutable', async () => {
    const index = (await get(`${origin}/ui/`)).body;
    const assets = [...index.matchAll(/(?:src|href)="(\/ui\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    assert.ok(assets.some((a) => a.endsWith('.js')) && assets.some((a) => a.endsWith('.css')), index);
    for (const path of assets) {
      assert.match(path, /-[A-Za-z0-9_-]{8}\.(js|css)$/);
      const r = await get(`${origin}${path}`);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers['content-type'], path.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8');
      assert.equal(r.headers['cache-control'], 'public, max-age=31536000, immutable');
      assert.equal(r.headers['content-security-policy'], CSP);
      const again = await get(`${origin}${path}`, { headers: { 'if-none-match': String(r.headers.etag) } });
      assert.equal(again.status, 304);
    }
  });

  test('an unknown asset is a 404 and traversal reaches nothing', async () => {
    assert.equal((await get(`${origin}/ui/assets/nothing-12345678.js`)).status, 404);
    for (const path of ['/ui/assets/..%2f..%2fpackage.json', '/ui/..%2fpackage.json', '/ui/assets/%2e%2e%2f%2e%2e%2fpackage.json']) {
      const r = await get(`${origin}${path}`);
      assert.equal(r.status, 404, path);
    }
  });

  test('the Admin API itself still wants a key', async () => {
    assert.equal((await get(`${gw.adminUrl}/routes`)).status, 401);
  });
});

describe('the dashboard behind admin.allow', () => {
  let gw: Gateway;
  before(async () => { gw = await startGateway({ store: 'sqlite', admin: { allow: ['10.0.0.0/8'] } }); });
  after(async () => { await gw?.stop(); });

  test('a client outside the allow list gets a 403 for /ui/ too', async () => {
    const origin = new URL(gw.adminUrl).origin;
    assert.equal((await get(`${origin}/ui/`)).status, 403);
    assert.equal((await get(`${origin}/ui/assets/index-12345678.js`)).status, 403);
  });
});
