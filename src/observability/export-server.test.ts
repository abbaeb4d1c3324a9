import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { MetricsExportServer } from './export-server.js';

async function withServer(scrape: () => Promise<string>, fn: (base: string) => Promise<void>): Promise<void> {
  const s = new MetricsExportServer({ host: '127.0.0.1', port: 0 }, '9.9.9', scrape);
  const addr = await s.listen();
  try {
    await fn(`http://127.0.0.1:${addr.port}`);
  } finally {
    await s.close();
  }
}

test('serves the merged worker metrics and node info on both paths', async () => {
  await withServer(async () => '# HELP x x\n# TYPE x counter\nx 3\n', async (base) => {
    for (const path of ['/apisix/prometheus/metrics', '/metrics']) {
      const r = await request(base + path);
      assert.equal(r.statusCode, 200);
      assert.match(String(r.headers['content-type']), /^text\/plain; version=0.0.4/);
      const text = await r.body.text();
      assert.match(text, /^x 3$/m);
      assert.match(text, /^apisix_node_info\{hostname="[^"]+",version="9.9.9"\} 1$/m);
    }
  });
});

test('other paths 404, other methods 405, a failed scrape 503', async () => {
  await withServer(async () => { throw new Error('Operation timed out.'); }, async (base) => {
    const nf = await request(base + '/nope');
    assert.equal(nf.statusCode, 404);
    await nf.body.dump();
    const post = await request(base + '/metrics', { method: 'POST' });
    assert.equal(post.statusCode, 405);
    await post.body.dump();
    const bad = await request(base + '/metrics');
    assert.equal(bad.statusCode, 503);
    assert.match(await bad.body.text(), /Operation timed out/);
  });
});

test('concurrent scrapes share one collection', async () => {
  let calls = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  await withServer(async () => { calls++; await gate; return 'y 1\n'; }, async (base) => {
    const pending = [request(base + '/metrics'), request(base + '/metrics')];
    // both requests are in before the collection finishes
    for (let i = 0; i < 100 && calls === 0; i++) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 20));
    release();
    const rs = await Promise.all(pending);
    for (const r of rs) assert.match(await r.body.text(), /^y 1$/m);
    assert.equal(calls, 1);
  });
});
