// The behaviour every ConfigStore (sqlite, standalone, etcd) must show. Each store's test
// file calls runStoreContract with a factory; read-only stores (standalone) are driven
// through `setContent` (which rewrites their source) instead of put/delete.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ResourceKind } from '../../src/contracts/resources.js';
import type { ConfigStore, StoreEvent, StoreState } from '../../src/contracts/store.js';
import { ConfigState } from '../../src/config-store/state.js';
import { isGatehouseError } from '../../src/core/errors.js';

/** One object of the content a read-only store should serve. */
export interface ContractObject {
  kind: ResourceKind;
  id: string;
  value: Record<string, unknown>;
}

export interface StoreContractOptions {
  readOnly: boolean;
  /** Read-only stores: replace the store's whole source with these objects. */
  setContent?: (objects: ContractObject[]) => Promise<void>;
}

export type MakeStore = () => Promise<{ store: ConfigStore; cleanup(): Promise<void> }>;

const WAIT_MS = 5000;

/** Polls `cond` until true or the bounded wait is over. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const upstream = (id: string, port = 1980): ContractObject => ({
  kind: 'upstreams', id, value: { id, type: 'roundrobin', nodes: [{ host: '127.0.0.1', port, weight: 1 }] },
});
const route = (id: string, uri: string, upstreamId = 'u1'): ContractObject => ({
  kind: 'routes', id, value: { id, uri, upstream_id: upstreamId },
});

function summary(state: StoreState | ConfigState): string[] {
  const objects = state instanceof ConfigState ? state.toStoreState().objects : state.objects;
  return objects.map((o) => `${o.kind}/${o.id}:${String((o.value as { uri?: unknown }).uri ?? '')}`).sort();
}

export function runStoreContract(name: string, makeStore: MakeStore, opts: StoreContractOptions): void {
  describe(`${name} store contract`, () => {
    let store: ConfigStore;
    let cleanup: () => Promise<void>;

    before(async () => {
      ({ store, cleanup } = await makeStore());
    });
    after(async () => {
      await store.close();
      await cleanup();
    });

    it('reports whether it is read-only as declared', () => {
      assert.equal(store.readOnly, opts.readOnly);
    });

    if (opts.readOnly) runReadOnly(() => store, opts);
    else runWritable(() => store);
  });
}

function runReadOnly(getStore: () => ConfigStore, opts: StoreContractOptions): void {
  const setContent = opts.setContent;
  if (setContent === undefined) throw new Error('a read-only store contract needs setContent');

  it('refuses put and delete with GH_ERR_STORE_READ_ONLY', async () => {
    const store = getStore();
    await assert.rejects(async () => store.put('routes', 'x', { uri: '/x', upstream_id: 'u1' }),
      (e: unknown) => isGatehouseError(e, 'GH_ERR_STORE_READ_ONLY'));
    await assert.rejects(async () => store.delete('routes', 'x'),
      (e: unknown) => isGatehouseError(e, 'GH_ERR_STORE_READ_ONLY'));
  });

  it('serves the content it was given through load, get and list', async () => {
    const store = getStore();
    await setContent([upstream('u1'), route('r1', '/one'), route('r2', '/two')]);
    const state = await store.load();
    assert.deepEqual(summary(state), ['routes/r1:/one', 'routes/r2:/two', 'upstreams/u1:']);
    assert.ok(state.revision > 0);
    const r1 = await store.get('routes', 'r1');
    assert.equal(r1?.kind, 'routes');
    assert.equal(r1?.id, 'r1');
    assert.equal(r1?.value.uri, '/one');
    assert.ok(r1!.createdIndex > 0 && r1!.modifiedIndex >= r1!.createdIndex);
    assert.equal(await store.get('routes', 'nope'), undefined);
    assert.deepEqual((await store.list('routes')).map((o) => o.id).sort(), ['r1', 'r2']);
    assert.deepEqual(await store.list('ssls'), []);
  });

  it('sees a changed source through load with a higher revision', async () => {
    const store = getStore();
    const before = await store.load();
    await setContent([upstream('u1'), route('r1', '/one-changed')]);
    const next = await store.load();
    assert.ok(next.revision > before.revision, `revision ${next.revision} should exceed ${before.revision}`);
    assert.deepEqual(summary(next), ['routes/r1:/one-changed', 'upstreams/u1:']);
  });

  it('delivers later changes to a watcher, which can rebuild the new content', async () => {
    const store = getStore();
    const start = await store.load();
    const local = ConfigState.fromStoreState(start);
    const events: StoreEvent[] = [];
    const stop = store.watch(start.revision, (ev) => { events.push(ev); local.applyEvent(ev); });
    try {
      await setContent([upstream('u1'), route('r9', '/nine')]);
      await waitFor(() => summary(local).includes('routes/r9:/nine'), 'the watcher to see routes/r9');
      assert.ok(local.revision > start.revision);
      assert.deepEqual(summary(local), ['routes/r9:/nine', 'upstreams/u1:']);
      assert.deepEqual(summary(await store.load()), summary(local));
    } finally {
      stop();
    }
  });

  it('stops calling a watcher once it unsubscribes', async () => {
    const store = getStore();
    const start = await store.load();
    let calls = 0;
    const stop = store.watch(start.revision, () => { calls++; });
    stop();
    await setContent([upstream('u1'), route('r10', '/ten')]);
    await store.load();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(calls, 0);
  });

  it('gives a watcher that starts from an old revision the current content', async () => {
    const store = getStore();
    const current = await store.load();
    const local = new ConfigState();
    const stop = store.watch(0, (ev) => { local.applyEvent(ev); });
    try {
      await waitFor(() => local.revision >= current.revision, 'the catch-up event');
      assert.deepEqual(summary(local), summary(current));
    } finally {
      stop();
    }
  });
}

function runWritable(getStore: () => ConfigStore): void {
  const conflict = (e: unknown): boolean => isGatehouseError(e, 'GH_ERR_STORE_CONFLICT');

  it('stores an object with put and returns it from get and list', async () => {
    const store = getStore();
    const u = upstream('u1');
    const put = await store.put(u.kind, u.id, u.value);
    assert.equal(put.kind, 'upstreams');
    assert.equal(put.id, 'u1');
    assert.ok(put.createdIndex > 0);
    assert.equal(put.modifiedIndex, put.createdIndex);
    const got = await store.get('upstreams', 'u1');
    assert.deepEqual(got?.value, put.value);
    assert.equal(got?.modifiedIndex, put.modifiedIndex);
    assert.ok((await store.list('upstreams')).some((o) => o.id === 'u1'));
    assert.equal(await store.get('upstreams', 'missing'), undefined);
  });

  it('keeps createdIndex and raises modifiedIndex when an object is replaced', async () => {
    const store = getStore();
    const first = await store.put('routes', 'r1', route('r1', '/a').value);
    const second = await store.put('routes', 'r1', route('r1', '/b').value);
    assert.equal(second.createdIndex, first.createdIndex);
    assert.ok(second.modifiedIndex > first.modifiedIndex);
    assert.equal((await store.get('routes', 'r1'))?.value.uri, '/b');
  });

  it('advances the revision strictly with every write and delete', async () => {
    const store = getStore();
    const revs: number[] = [(await store.load()).revision];
    await store.put('routes', 'rv1', route('rv1', '/rv1').value);
    revs.push((await store.load()).revision);
    await store.put('routes', 'rv2', route('rv2', '/rv2').value);
    revs.push((await store.load()).revision);
    await store.delete('routes', 'rv1');
    revs.push((await store.load()).revision);
    for (let i = 1; i < revs.length; i++) assert.ok(revs[i]! > revs[i - 1]!, `revisions ${revs.join(',')}`);
  });

  it('deletes an object once and reports whether it existed', async () => {
    const store = getStore();
    await store.put('routes', 'del', route('del', '/del').value);
    assert.equal(await store.delete('routes', 'del'), true);
    assert.equal(await store.get('routes', 'del'), undefined);
    assert.equal(await store.delete('routes', 'del'), false);
  });

  it('refuses a compare-and-swap with a stale or wrong revision', async () => {
    const store = getStore();
    const created = await store.put('routes', 'cas', route('cas', '/cas').value, { expectedRevision: 0 });
    await assert.rejects(store.put('routes', 'cas', route('cas', '/x').value, { expectedRevision: 0 }), conflict);
    const updated = await store.put('routes', 'cas', route('cas', '/cas2').value,
      { expectedRevision: created.modifiedIndex });
    await assert.rejects(store.put('routes', 'cas', route('cas', '/x').value,
      { expectedRevision: created.modifiedIndex }), conflict);
    await assert.rejects(store.delete('routes', 'cas', { expectedRevision: created.modifiedIndex }), conflict);
    assert.equal(await store.delete('routes', 'cas', { expectedRevision: updated.modifiedIndex }), true);
    await assert.rejects(store.put('routes', 'never', route('never', '/n').value, { expectedRevision: 5 }), conflict);
  });

  it('delivers the events after a revision to a watcher, in order', async () => {
    const store = getStore();
    const start = await store.load();
    const local = ConfigState.fromStoreState(start);
    const revisions: number[] = [];
    const stop = store.watch(start.revision, (ev) => {
      if (ev.type === 'reset') revisions.push(ev.state.revision);
      else revisions.push(ev.revision);
      local.applyEvent(ev);
    });
    try {
      await store.put('routes', 'w1', route('w1', '/w1').value);
      await store.put('routes', 'w2', route('w2', '/w2').value);
      await store.delete('routes', 'w1');
      const end = await store.load();
      await waitFor(() => local.revision >= end.revision, 'the watcher to reach the last revision');
      for (let i = 1; i < revisions.length; i++) assert.ok(revisions[i]! > revisions[i - 1]!, `order ${revisions.join(',')}`);
      assert.deepEqual(summary(local), summary(end));
    } finally {
      stop();
    }
  });

  it('replays the events after an older revision to a late watcher', async () => {
    const store = getStore();
    const start = await store.load();
    await store.put('routes', 'late', route('late', '/late').value);
    const end = await store.load();
    const local = ConfigState.fromStoreState(start);
    const stop = store.watch(start.revision, (ev) => { local.applyEvent(ev); });
    try {
      await waitFor(() => local.revision >= end.revision, 'the replayed events');
      assert.deepEqual(summary(local), summary(end));
    } finally {
      stop();
    }
  });
}
