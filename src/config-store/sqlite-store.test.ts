import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { runStoreContract, waitFor } from '../../test/contract/config-store.contract.js';
import type { StoreEvent } from '../contracts/store.js';
import { isGatehouseError } from '../core/errors.js';
import { ConfigState } from './state.js';
import { canonicalJson, diffConfig, SqliteStore } from './sqlite-store.js';

const FAST = { pollIntervalMs: 20 };

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'gatehouse-sqlite-'));
}

const route = (id: string, uri = `/${id}`): Record<string, unknown> => ({ id, uri, upstream_id: 'u1' });
const upstream = { id: 'u1', nodes: [{ host: '127.0.0.1', port: 1980, weight: 1 }] };

runStoreContract('sqlite', async () => {
  const dir = await tempDir();
  return { store: new SqliteStore(path.join(dir, 'gatehouse.db'), FAST), cleanup: () => rm(dir, { recursive: true, force: true }) };
}, { readOnly: false });

describe('SqliteStore', () => {
  let dir: string;
  let n = 0;
  const newFile = (): string => path.join(dir, `s${++n}`, 'gatehouse.db');
  const open: SqliteStore[] = [];
  const openStore = (file: string, opts = {}): SqliteStore => {
    const s = new SqliteStore(file, { ...FAST, ...opts });
    open.push(s);
    return s;
  };

  before(async () => { dir = await tempDir(); });
  after(async () => {
    for (const s of open) await s.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('creates its folder private to the owner and the file readable by the owner only', async () => {
    const file = newFile();
    openStore(file);
    assert.equal((await stat(path.dirname(file))).mode & 0o777, 0o700);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
  });

  it('refuses writes (GH_ERR_STORE_UNAVAILABLE) once its file is deleted, and reports why', async () => {
    const file = newFile();
    const s = openStore(file);
    await s.put('upstreams', 'u1', upstream);
    assert.equal(s.problem(), undefined);
    await rm(file);
    await assert.rejects(s.put('upstreams', 'u2', upstream),
      (e: unknown) => isGatehouseError(e, 'GH_ERR_STORE_UNAVAILABLE') && /was deleted while the gateway runs/.test((e as Error).message));
    assert.match(s.problem()!, /gatehouse.db was deleted/);
    await assert.rejects(s.delete('upstreams', 'u1'), (e: unknown) => isGatehouseError(e, 'GH_ERR_STORE_UNAVAILABLE'));
    // reads keep answering from the open handle
    assert.equal((await s.get('upstreams', 'u1'))?.id, 'u1');
  });

  it('refuses writes once its file or its write-ahead log is replaced by another file', async () => {
    const file = newFile();
    const s = openStore(file);
    await s.put('upstreams', 'u1', upstream);
    await rm(file);
    await writeFile(file, '');
    await assert.rejects(s.put('upstreams', 'u2', upstream), /was replaced by another file/);

    const other = newFile();
    const t = openStore(other);
    await t.put('upstreams', 'u1', upstream);
    assert.equal(t.problem(), undefined);
    await rm(`${other}-wal`);
    await assert.rejects(t.put('upstreams', 'u2', upstream), /write-ahead log .*-wal was deleted/);
  });

  it('notices a deleted file without a write, on its periodic check', async () => {
    const file = newFile();
    const s = openStore(file, { fileCheckIntervalMs: 20 });
    await s.put('upstreams', 'u1', upstream);
    await rm(file);
    await waitFor(() => (s as unknown as { guard: { problem?: string } }).guard.problem !== undefined, 'the periodic check');
  });

  it('keeps objects and revisions across a reopen', async () => {
    const file = newFile();
    const a = openStore(file);
    await a.put('upstreams', 'u1', upstream);
    const r1 = await a.put('routes', 'r1', route('r1'));
    await a.close();
    const b = openStore(file);
    const state = await b.load();
    assert.equal(state.revision, r1.modifiedIndex);
    assert.deepEqual(await b.get('routes', 'r1'), r1);
    const next = await b.put('routes', 'r2', route('r2'));
    assert.equal(next.modifiedIndex, r1.modifiedIndex + 1);
  });

  it('shows a second instance on the same file the first one\'s writes through watch', async () => {
    const file = newFile();
    const writer = openStore(file);
    const reader = openStore(file);
    const start = await reader.load();
    const local = ConfigState.fromStoreState(start);
    const stop = reader.watch(start.revision, (ev) => { local.applyEvent(ev); });
    try {
      await writer.put('upstreams', 'u1', upstream);
      await writer.put('routes', 'r1', route('r1'));
      await writer.delete('routes', 'r1');
      const last = await writer.put('routes', 'r2', route('r2'));
      await waitFor(() => local.revision >= last.modifiedIndex, 'the reader to see the writer\'s changes');
      assert.deepEqual(local.toStoreState(), ConfigState.fromStoreState(await writer.load()).toStoreState());
    } finally {
      stop();
    }
  });

  it('refuses a compare-and-swap that lost a race with another instance', async () => {
    const file = newFile();
    const a = openStore(file);
    const b = openStore(file);
    const seen = await a.put('routes', 'r1', route('r1'));
    await b.put('routes', 'r1', route('r1', '/changed'), { expectedRevision: seen.modifiedIndex });
    await assert.rejects(a.put('routes', 'r1', route('r1', '/mine'), { expectedRevision: seen.modifiedIndex }),
      (e: unknown) => isGatehouseError(e, 'GH_ERR_STORE_CONFLICT') && /modifiedIndex/.test((e as Error).message));
    assert.equal((await a.get('routes', 'r1'))?.value.uri, '/changed');
  });

  it('gives each op of a transaction its own revision and returns the last one', async () => {
    const s = openStore(newFile());
    const before = (await s.load()).revision;
    const rev = await s.transaction([
      { op: 'put', kind: 'upstreams', id: 'u1', value: upstream },
      { op: 'put', kind: 'routes', id: 'r1', value: route('r1') },
      { op: 'delete', kind: 'upstreams', id: 'u1' },
    ]);
    assert.equal(rev, before + 3);
    assert.equal((await s.load()).revision, rev);
    assert.equal((await s.get('routes', 'r1'))?.modifiedIndex, before + 2);
    assert.equal(await s.get('upstreams', 'u1'), undefined);
  });

  it('applies nothing of a transaction when one op fails', async () => {
    const s = openStore(newFile());
    const r1 = await s.put('routes', 'r1', route('r1'));
    const before = await s.load();
    await assert.rejects(s.transaction([
      { op: 'put', kind: 'routes', id: 'r2', value: route('r2') },
      { op: 'put', kind: 'routes', id: 'r1', value: route('r1', '/x'), expectedRevision: r1.modifiedIndex + 7 },
    ]), (e: unknown) => isGatehouseError(e, 'GH_ERR_STORE_CONFLICT'));
    await assert.rejects(s.transaction([
      { op: 'delete', kind: 'routes', id: 'r1' },
      { op: 'delete', kind: 'routes', id: 'absent' },
    ]), (e: unknown) => isGatehouseError(e, 'GH_ERR_STORE_NOT_FOUND'));
    assert.deepEqual(await s.load(), before);
  });

  it('replaces everything on replaceAll and reports what it added, changed and removed', async () => {
    const s = openStore(newFile());
    await s.put('upstreams', 'u1', upstream);
    const keep = await s.put('routes', 'keep', route('keep'));
    await s.put('routes', 'edit', route('edit'));
    await s.put('routes', 'gone', route('gone'));
    const result = await s.replaceAll([
      { kind: 'upstreams', id: 'u1', value: upstream },
      { kind: 'routes', id: 'keep', value: { upstream_id: 'u1', uri: '/keep', id: 'keep' } }, // same, other key order
      { kind: 'routes', id: 'edit', value: route('edit', '/edited') },
      { kind: 'routes', id: 'new', value: route('new') },
    ]);
    assert.deepEqual(result.added, [{ kind: 'routes', id: 'new' }]);
    assert.deepEqual(result.changed, [{ kind: 'routes', id: 'edit' }]);
    assert.deepEqual(result.removed, [{ kind: 'routes', id: 'gone' }]);
    assert.equal(result.revision, (await s.load()).revision);
    assert.deepEqual(await s.get('routes', 'keep'), keep, 'an identical object keeps its indexes');
    assert.deepEqual((await s.list('routes')).map((o) => o.id).sort(), ['edit', 'keep', 'new']);
    const again = await s.replaceAll((await s.load()).objects);
    assert.deepEqual([again.added, again.changed, again.removed], [[], [], []]);
    assert.equal(again.revision, result.revision, 'a no-op import writes nothing');
  });

  it('leaves the store untouched when replaceAll fails part-way through', async () => {
    const file = newFile();
    const s = openStore(file);
    await s.put('routes', 'old', route('old'));
    const before = await s.load();
    // a trigger makes the write of one object fail inside the transaction
    const raw = new Database(file);
    raw.exec("CREATE TRIGGER boom BEFORE INSERT ON objects WHEN NEW.id = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END;");
    raw.close();
    const objects = Array.from({ length: 50 }, (_, i) => ({ kind: 'routes' as const, id: `r${i}`, value: route(`r${i}`) }));
    await assert.rejects(s.replaceAll([...objects, { kind: 'routes', id: 'boom', value: route('boom') }]), /boom/);
    assert.deepEqual(await s.load(), before);
  });

  it('refuses an import that names the same object twice', async () => {
    const s = openStore(newFile());
    await assert.rejects(s.replaceAll([
      { kind: 'routes', id: 'a', value: route('a') }, { kind: 'routes', id: 'a', value: route('a') },
    ]), (e: unknown) => isGatehouseError(e, 'GH_ERR_CONFIG_INVALID') && /routes "a" appears twice/.test((e as Error).message));
  });

  it('sends one reset to a watcher older than the trimmed change log', async () => {
    const s = openStore(newFile(), { keepChanges: 5 });
    for (let i = 0; i < 20; i++) await s.put('routes', `r${i}`, route(`r${i}`));
    const events: StoreEvent[] = [];
    const stop = s.watch(1, (ev) => events.push(ev));
    try {
      await waitFor(() => events.length > 0, 'the reset');
      assert.equal(events.length, 1);
      const ev = events[0]!;
      assert.equal(ev.type, 'reset');
      assert.equal(ev.type === 'reset' && ev.state.objects.length, 20);
      await s.put('routes', 'after', route('after'));
      assert.equal(events.at(-1)?.type, 'put', 'later writes arrive as ordinary events');
    } finally {
      stop();
    }
  });

  it('replays a backlog that is still in the log as ordinary events', async () => {
    const s = openStore(newFile(), { keepChanges: 5 });
    for (let i = 0; i < 20; i++) await s.put('routes', `r${i}`, route(`r${i}`));
    const events: StoreEvent[] = [];
    const stop = s.watch(16, (ev) => events.push(ev));
    try {
      await waitFor(() => events.length >= 4, 'the backlog');
      assert.deepEqual(events.map((e) => e.type === 'reset' ? -1 : e.revision), [17, 18, 19, 20]);
    } finally {
      stop();
    }
  });

  it('delivers writes made from inside a watcher after the event being handled, in order', async () => {
    const s = openStore(newFile());
    const revisions: number[] = [];
    const stop = s.watch((await s.load()).revision, (ev) => {
      if (ev.type === 'reset') return;
      revisions.push(ev.revision);
      if (ev.type === 'put' && ev.object.id === 'first') void s.put('routes', 'second', route('second'));
    });
    try {
      const first = await s.put('routes', 'first', route('first'));
      await waitFor(() => revisions.length >= 2, 'both events');
      assert.deepEqual(revisions, [first.modifiedIndex, first.modifiedIndex + 1]);
    } finally {
      stop();
    }
  });

  it('names the file when it is not an sqlite database', async () => {
    const file = newFile();
    await new SqliteStore(file).close(); // creates the folder
    await writeFile(file, 'this is not a database, but it is long enough to have a header........\n'.repeat(20));
    assert.throws(() => new SqliteStore(file),
      (e: unknown) => isGatehouseError(e, 'GH_ERR_CONFIG_INVALID') && (e as Error).message.includes(file));
  });

  it('compares values without regard to key order', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [1, { y: 1, x: 2 }], c: 2 } }), canonicalJson({ a: { c: 2, d: [1, { x: 2, y: 1 }] }, b: 1 }));
    const diff = diffConfig(
      [{ kind: 'routes', id: 'a', value: { uri: '/a', id: 'a' } }, { kind: 'routes', id: 'b', value: { uri: '/b' } }],
      [{ kind: 'routes', id: 'a', value: { id: 'a', uri: '/a' } }, { kind: 'upstreams', id: 'b', value: {} }],
    );
    assert.deepEqual(diff, { added: [{ kind: 'upstreams', id: 'b' }], changed: [], removed: [{ kind: 'routes', id: 'b' }] });
  });
});
