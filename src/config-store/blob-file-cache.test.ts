import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobFileCache, FileBlobReader } from './blob-file-cache.js';
import { openBlobReader } from './blob-reader.js';
import type { NodeConfig } from '../contracts/node-config.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function tempDir(): { dir: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), 'gh-blobs-'));
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

describe('cluster blob cache', () => {
  it('copies a binary once, and a worker reads it by its sha256', async () => {
    using t = tempDir();
    const cache = new BlobFileCache(join(t.dir, 'blobs'));
    const bytes = Buffer.from('\0asm plugin bytes');
    let fetches = 0;
    const fetch = async (): Promise<Buffer> => { fetches++; return bytes; };
    await cache.ensure(sha(bytes), fetch);
    await cache.ensure(sha(bytes), fetch);
    assert.equal(fetches, 1, 'a cached binary is not fetched again');
    const reader = openBlobReader({ store: { type: 'etcd' }, data_dir: t.dir } as unknown as Pick<NodeConfig, 'store' | 'data_dir'>)!;
    assert.deepEqual(reader.get(sha(bytes)), bytes);
    assert.equal(reader.get(sha(Buffer.from('other'))), undefined);
    assert.equal(reader.get('../../etc/passwd'), undefined, 'only sha256 names are read');
  });

  it('refuses bytes that do not hash to the name they were asked by, and writes nothing', async () => {
    using t = tempDir();
    const cache = new BlobFileCache(t.dir);
    const wanted = sha(Buffer.from('the real plugin'));
    await assert.rejects(cache.ensure(wanted, async () => Buffer.from('something else')), /hashes to/);
    await assert.rejects(cache.ensure(wanted, async () => undefined), /not in the store/);
    assert.deepEqual(readdirSync(t.dir), []);
  });

  it('a file changed on disk after it was cached is not handed to a worker', async () => {
    using t = tempDir();
    const cache = new BlobFileCache(t.dir);
    const bytes = Buffer.from('original');
    await cache.ensure(sha(bytes), async () => bytes);
    writeFileSync(cache.path(sha(bytes)), 'tampered');
    const mismatches: string[] = [];
    const reader = new FileBlobReader(t.dir, (s) => mismatches.push(s));
    assert.equal(reader.get(sha(bytes)), undefined);
    assert.deepEqual(mismatches, [sha(bytes)]);
  });
});
