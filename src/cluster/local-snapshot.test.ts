import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalSnapshot } from './local-snapshot.js';
import type { StoreState } from '../contracts/store.js';

const state = (revision: number): StoreState => ({
  revision,
  objects: [{ kind: 'routes', id: 'r1', value: { uri: '/a', upstream: { nodes: { '127.0.0.1:1': 1 } } }, createdIndex: 1, modifiedIndex: revision }],
});

function tempFile(): { file: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), 'gh-snap-'));
  return { file: join(dir, 'sub', 'config-snapshot.json'), [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

describe('local snapshot', () => {
  it('keeps the last state saved, readable only by the owner', () => {
    using t = tempFile();
    const snap = new LocalSnapshot(t.file, 'etcd http://127.0.0.1:2379 /gatehouse', 0);
    assert.equal(snap.load(), undefined, 'no snapshot yet');
    snap.save(() => state(5));
    snap.save(() => state(7));
    snap.flush();
    assert.equal(snap.load()!.state.revision, 7, 'a later save replaces an earlier pending one');
    assert.equal(statSync(t.file).mode & 0o777, 0o600);
  });

  it('coalesces saves made within the interval into one write', async () => {
    using t = tempFile();
    const snap = new LocalSnapshot(t.file, 's', 50);
    let reads = 0;
    for (let i = 1; i <= 20; i++) snap.save(() => { reads++; return state(i); });
    await new Promise((r) => setTimeout(r, 120));
    assert.equal(reads, 1);
    assert.equal(snap.load()!.state.revision, 20);
  });

  it('refuses a snapshot of another cluster or a damaged file instead of serving it', () => {
    using t = tempFile();
    const a = new LocalSnapshot(t.file, 'etcd A /gatehouse', 0);
    a.save(() => state(3));
    a.flush();
    assert.throws(() => new LocalSnapshot(t.file, 'etcd B /gatehouse', 0).load(), /was taken from etcd A \/gatehouse, not etcd B/);
    writeFileSync(t.file, readFileSync(t.file, 'utf8').slice(0, 20));
    assert.throws(() => a.load(), /cannot be read/);
  });
});
