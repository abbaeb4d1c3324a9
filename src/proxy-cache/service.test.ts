import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, utimes, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { CacheZoneConfig } from '../contracts/node-config.js';
import { CacheService } from './service.js';
import { cacheFilePath, readCacheFile, writeCacheFile } from './disk-files.js';
import { entryKey, indexKey, variantKey } from './keys.js';
import type { CacheEntry } from './record.js';

const entry = (size: number, ttl = 60): CacheEntry => ({
  kind: 'entry', status: 200, headers: ['content-type', 'text/plain'], ttl, storedAt: Date.now(), body: Buffer.alloc(size, 'x'),
});

const dirs: string[] = [];
after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }); });

async function diskZone(size: number): Promise<CacheZoneConfig> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gh-cache-'));
  dirs.push(dir);
  return { name: 'd', memory_size: 1024 * 1024, disk_size: size, disk_path: dir, cache_levels: '1:2' };
}

describe('CacheService', () => {
  it('a memory zone keeps to memory_size, least recently used out first', () => {
    const s = new CacheService([{ name: 'm', memory_size: 70_000, cache_levels: '1:2' }]);
    s.set(1, 'm', 'a', entry(20_000));
    s.set(1, 'm', 'b', entry(20_000));
    s.set(1, 'm', 'c', entry(20_000));
    assert.ok(s.get('m', 'a'));
    s.set(1, 'm', 'd', entry(20_000));
    assert.equal(s.get('m', 'b'), undefined);
    assert.ok(s.get('m', 'a') && s.get('m', 'c') && s.get('m', 'd'));
    assert.ok(s.usage('m')!.bytes <= 70_000);
    // a record bigger than the zone is not kept
    s.set(1, 'm', 'huge', entry(100_000));
    assert.equal(s.get('m', 'huge'), undefined);
  });

  it('PURGE removes the entry, the Vary index and its variants, and tells the other workers', async () => {
    const s = new CacheService([{ name: 'm', memory_size: 1 << 20, cache_levels: '1:2' }]);
    const told: [number, string[]][] = [];
    s.invalidate = async (except, _zone, keys) => { told.push([except, keys]); };
    s.set(1, 'm', indexKey('k'), { kind: 'vary', vary: ['accept'], variants: ['s1'], ttl: 60, storedAt: Date.now() });
    s.set(1, 'm', variantKey('k', 's1'), entry(10));
    told.length = 0;
    assert.equal(await s.purge(2, 'm', 'k'), true);
    assert.equal(s.get('m', variantKey('k', 's1')), undefined);
    assert.deepEqual(told, [[2, [entryKey('k'), indexKey('k'), variantKey('k', 's1')]]]);
    assert.equal(await s.purge(2, 'm', 'k'), false);
  });

  it('collapses misses: the first holds the lock, the others wait for it and learn whether it stored', async () => {
    const s = new CacheService([]);
    assert.equal(s.lock(1, 'z', 'k'), true);
    const waiting = [s.lock(2, 'z', 'k'), s.lock(3, 'z', 'k')];
    s.unlock(9, 'z', 'k', true); // not the holder: nothing happens
    s.unlock(1, 'z', 'k', true);
    assert.deepEqual(await Promise.all(waiting), [true, true]);
    assert.equal(s.lock(2, 'z', 'k'), true);
    const after = s.lock(3, 'z', 'k');
    s.ownerGone(2);
    assert.equal(await after, false);
  });

  it('rebuilds a disk zone from its files at start, trims it to disk_size, and removes stale temporary files', async () => {
    const zone = await diskZone(64 * 1024);
    const sizes: number[] = [];
    for (const [i, k] of ['a', 'b', 'c', 'd'].entries()) {
      sizes.push(await writeCacheFile(zone, k, entry(20_000)));
      const t = new Date(Date.now() - (10 - i) * 1000);
      await utimes(cacheFilePath(zone, k), t, t);
    }
    const temp = path.join(zone.disk_path!, 'f', '00', 'leftover.1.tmp');
    await mkdir(path.dirname(temp), { recursive: true });
    await writeFile(temp, 'x');
    const s = new CacheService([zone]);
    // four files of ~20 KB do not fit in 64 KB: the oldest (a) went at start
    assert.equal(s.usage('d')!.entries, 3);
    assert.equal(existsSync(temp), false);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(await readCacheFile(zone, 'a'), undefined);
    assert.equal((await readCacheFile(zone, 'd'))?.kind, 'entry');
    s.stored('d', 'e', sizes[0]!, Date.now() + 60_000);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(await readCacheFile(zone, 'b'), undefined);
  });

  it('lays files out as nginx levels do', () => {
    const file = cacheFilePath({ name: 'x', memory_size: 1, disk_path: '/c', cache_levels: '1:2' }, 'k');
    // md5("k") = 8ce4b16b22b58894aa86c421e8759df3
    assert.equal(file, '/c/3/df/8ce4b16b22b58894aa86c421e8759df3');
  });
});
