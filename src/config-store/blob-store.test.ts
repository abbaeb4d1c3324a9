import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { NodeConfig } from '../contracts/node-config.js';
import { openBlobReader } from './blob-reader.js';
import { SqliteStore } from './sqlite-store.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
type StoreConfig = Pick<NodeConfig, 'store' | 'data_dir'>;
const sqliteConfig = (file: string): StoreConfig =>
  ({ store: { type: 'sqlite', sqlite: { path: file } }, data_dir: '/nonexistent' } as unknown as StoreConfig);

describe('sqlite blob store', () => {
  let dir: string;
  let n = 0;
  const stores: SqliteStore[] = [];
  const newStore = (): { store: SqliteStore; file: string } => {
    const file = path.join(dir, `b${++n}`, 'gatehouse.db');
    const store = new SqliteStore(file, { pollIntervalMs: 20 });
    stores.push(store);
    return { store, file };
  };
  before(async () => { dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-blobs-')); });
  after(async () => {
    for (const s of stores) await s.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('stores bytes under their sha256 and returns them unchanged', async () => {
    const { store } = newStore();
    const bytes = Buffer.from([0, 97, 115, 109, 1, 0, 0, 0, 255]);
    const key = await store.blobs.putBlob(bytes);
    assert.equal(key, sha(bytes));
    assert.deepEqual(await store.blobs.getBlob(key), bytes);
    assert.equal(await store.blobs.getBlob(sha(Buffer.from('other'))), undefined);
  });

  it('keeps one copy of the same bytes and takes a view of a larger buffer by its own range', async () => {
    const { store, file } = newStore();
    const backing = Buffer.from('xxhello-blobyy');
    const view = new Uint8Array(backing.buffer, backing.byteOffset + 2, 10);
    const k1 = await store.blobs.putBlob(view);
    const k2 = await store.blobs.putBlob(Buffer.from('hello-blob'));
    assert.equal(k1, k2);
    assert.equal((await store.blobs.getBlob(k1))!.toString(), 'hello-blob');
    const db = new Database(file, { readonly: true });
    assert.equal(db.prepare('SELECT COUNT(*) FROM blobs').pluck().get(), 1);
    assert.equal(db.prepare('SELECT size FROM blobs').pluck().get(), 10);
    db.close();
  });

  it('keepOnly deletes exactly the blobs that are not referenced', async () => {
    const { store } = newStore();
    const a = await store.blobs.putBlob(Buffer.from('a'));
    const b = await store.blobs.putBlob(Buffer.from('b'));
    const gone = await store.blobs.keepOnly(new Set([a]));
    assert.deepEqual(gone, [b]);
    assert.ok(await store.blobs.getBlob(a));
    assert.equal(await store.blobs.getBlob(b), undefined);
  });

  it('does not move the config revision (blobs are not configuration changes)', async () => {
    const { store } = newStore();
    const before = store.revision;
    await store.blobs.putBlob(Buffer.from('rev'));
    assert.equal(store.revision, before);
  });

  it('upgrades a store file written before blobs existed', async () => {
    const file = path.join(dir, 'old', 'gatehouse.db');
    const { store: first } = { store: new SqliteStore(file) };
    await first.put('upstreams', 'u1', { id: 'u1', nodes: [] });
    await first.close();
    const db = new Database(file);
    db.exec('DROP TABLE blobs');
    db.pragma('user_version = 1');
    db.close();
    const reopened = new SqliteStore(file);
    stores.push(reopened);
    assert.ok(await reopened.get('upstreams', 'u1'));
    const key = await reopened.blobs.putBlob(Buffer.from('after upgrade'));
    assert.equal((await reopened.blobs.getBlob(key))!.toString(), 'after upgrade');
  });

  it('a reader opened on the same file (as a worker does) sees committed blobs synchronously', async () => {
    const { store, file } = newStore();
    const reader = openBlobReader(sqliteConfig(file))!;
    try {
      const key = await store.blobs.putBlob(Buffer.from('for the worker'));
      assert.equal(reader.get(key)!.toString(), 'for the worker');
      assert.equal(reader.get(sha(Buffer.from('missing'))), undefined);
      assert.equal(reader.get('../not-a-key'), undefined);
      await store.blobs.keepOnly(new Set());
      assert.equal(reader.get(key), undefined);
    } finally {
      reader.close();
    }
  });

  it('there is no reader for stores without blobs', () => {
    assert.equal(openBlobReader({ store: { type: 'standalone' }, data_dir: '/nonexistent' } as unknown as StoreConfig), undefined);
  });
});
