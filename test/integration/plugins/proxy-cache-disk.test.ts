import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { adminClient, routeTo, type AdminCall } from '../admin/client.js';
import { freshRequest, startCacheUpstream, type CacheUpstream } from '../../helpers/cache-upstream.js';

// proxy-cache's disk strategy through a real two-worker gateway: `{}` is the built-in
// disk_cache_one zone under the data directory; files laid out as nginx's; freshness
// from the response, else proxy_cache.cache_ttl (1 s here); a size bound with LRU
// eviction; and the cache surviving a restart.

let gw: Gateway;
let up: CacheUpstream;
let call: AdminCall;
/** Ours, so stopping the gateway leaves it for the restart. */
let dir: string;
const NODE = { proxy_cache: { cache_ttl: '1s' } };

async function route(id: string, conf: Record<string, unknown>): Promise<void> {
  const r = await call('PUT', `/routes/${id}`, { ...routeTo(`/${id}/*`, up.port), plugins: { 'proxy-cache': conf } });
  assert.equal(r.status, 201, r.text);
  await eventually(async () => (await freshRequest(`${gw.url}/${id}/probe`)).status === 200);
}

const req = (path: string, method = 'GET') => freshRequest(gw.url + path, { method });
const status = async (path: string, method = 'GET'): Promise<unknown> => (await req(path, method)).headers['apisix-cache-status'];

/** nginx's file for a key under levels 1:2. */
function fileOf(dir: string, key: string): string {
  const md5 = createHash('md5').update(key).digest('hex');
  return join(dir, md5.slice(-1), md5.slice(-3, -1), md5);
}

before(async () => {
  up = await startCacheUpstream();
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-cache-'));
  gw = await startGateway({ store: 'sqlite', workers: 2, extra: NODE, dir });
  call = adminClient(gw);
  await route('d', {});
});

after(async () => {
  await gw?.stop();
  await up?.close();
  await rm(dir, { recursive: true, force: true });
});

test('{} caches on disk in disk_cache_one, a file per key under the data directory, shared by both workers', async () => {
  assert.equal(await status('/d/a?h=Cache-Control:max-age%3D60'), 'MISS');
  const files = join(dir, 'data', 'proxy_cache', 'disk_cache_one');
  const key = `${'127.0.0.1'.length + '/d/a?h=Cache-Control:max-age%3D60'.length}:127.0.0.1/d/a?h=Cache-Control:max-age%3D60`;
  await eventually(() => existsSync(fileOf(files, key)));
  for (let i = 0; i < 4; i++) {
    const r = await req('/d/a?h=Cache-Control:max-age%3D60');
    assert.equal(r.headers['apisix-cache-status'], 'HIT');
    assert.equal(r.headers['cache-control'], 'max-age=60');
    assert.match(r.body, /#1/);
  }
  assert.equal(up.hits('/d/a'), 1);
});

test("freshness is the response's own (max-age), else proxy_cache.cache_ttl; an old entry is EXPIRED", async () => {
  await req('/d/ttl');
  assert.equal(await status('/d/ttl'), 'HIT');
  await req('/d/own?h=Cache-Control:max-age%3D3');
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal(await status('/d/ttl'), 'EXPIRED');
  assert.equal(await status('/d/own?h=Cache-Control:max-age%3D3'), 'HIT');
  await req('/d/zero?h=Cache-Control:max-age%3D0');
  assert.equal(await status('/d/zero?h=Cache-Control:max-age%3D0'), 'MISS');
});

test('methods outside cache_method are BYPASS; PURGE removes the file (200), then 404', async () => {
  assert.equal(await status('/d/post', 'POST'), 'BYPASS');
  await req('/d/purge?h=Cache-Control:max-age%3D60');
  assert.equal(await status('/d/purge?h=Cache-Control:max-age%3D60'), 'HIT');
  assert.equal((await req('/d/purge?h=Cache-Control:max-age%3D60', 'PURGE')).status, 200);
  assert.equal((await req('/d/purge?h=Cache-Control:max-age%3D60', 'PURGE')).status, 404);
  assert.equal(await status('/d/purge?h=Cache-Control:max-age%3D60'), 'MISS');
});

test('concurrent misses for one key make one upstream request', async () => {
  const all = await Promise.all(Array.from({ length: 6 }, () => req('/d/slow?delay=300&h=Cache-Control:max-age%3D60')));
  assert.equal(up.hits('/d/slow'), 1);
  assert.ok(all.every((r) => r.body === all[0]!.body));
});

test('the cache survives a restart: the index is rebuilt from the files', async () => {
  await req('/d/keep?h=Cache-Control:max-age%3D600');
  assert.equal(await status('/d/keep?h=Cache-Control:max-age%3D600'), 'HIT');
  await gw.stop();
  gw = await startGateway({ store: 'sqlite', workers: 2, extra: NODE, dir });
  call = adminClient(gw);
  await eventually(async () => (await req('/d/keep?h=Cache-Control:max-age%3D600')).status === 200);
  assert.equal(await status('/d/keep?h=Cache-Control:max-age%3D600'), 'HIT');
  assert.equal(up.hits('/d/keep'), 1);
  assert.equal((await req('/d/keep?h=Cache-Control:max-age%3D600', 'PURGE')).status, 200);
});

test('a zone keeps to its size: the least recently used entries go (disk files and memory records)', async () => {
  await gw.stop();
  gw = await startGateway({
    store: 'sqlite', workers: 2, dir,
    extra: { proxy_cache: { zones: [{ name: 'small', disk_path: 'small', disk_size: '64k', memory_size: '64k' }, { name: 'tiny', memory_size: '64k' }] } },
  });
  call = adminClient(gw);
  await route('sd', { cache_zone: 'small' });
  await route('sm', { cache_strategy: 'memory', cache_zone: 'tiny' });
  for (const prefix of ['/sd', '/sm']) {
    for (const name of ['a', 'b', 'c']) {
      await req(`${prefix}/${name}?size=20000&h=Cache-Control:max-age%3D600`);
      await eventually(async () => (await status(`${prefix}/${name}?size=20000&h=Cache-Control:max-age%3D600`)) === 'HIT', 20, 20);
    }
    // a is used again, so b is now the least recently used
    assert.equal(await status(`${prefix}/a?size=20000&h=Cache-Control:max-age%3D600`), 'HIT');
    await req(`${prefix}/d?size=20000&h=Cache-Control:max-age%3D600`);
    await eventually(async () => (await status(`${prefix}/d?size=20000&h=Cache-Control:max-age%3D600`)) === 'HIT', 20, 20);
    const b = await req(`${prefix}/b?size=20000&h=Cache-Control:max-age%3D600`, 'PURGE');
    assert.equal(b.status, 404, `${prefix}/b was evicted`);
  }
  const files = (d: string): number => readdirSync(d, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length;
  assert.ok(files(join(dir, 'small')) <= 3, `${files(join(dir, 'small'))} files`);
});
