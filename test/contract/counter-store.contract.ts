import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CounterStore, KeyMarks } from '../../src/contracts/counter-store.js';

/**
 * A store under test and the clock it counts on: an injected clock moved at once, or, for
 * a store on a server's clock (Redis), a real wait of that long.
 */
export interface CounterStoreFixture {
  /** Two handles on the same counters (two workers of one node, two nodes, or the same store twice). */
  a: CounterStore & KeyMarks;
  b: CounterStore & KeyMarks;
  advance(ms: number): void | Promise<void>;
  close?(): void | Promise<void>;
}

/**
 * What every CounterStore must do (src/contracts/counter-store.ts), through that
 * interface only: the node-local store, the primary's store reached over IPC, and the
 * Redis store of cluster mode.
 */
export function counterStoreContract(name: string, make: () => CounterStoreFixture | Promise<CounterStoreFixture>): void {
  const withStore = (title: string, fn: (f: CounterStoreFixture) => Promise<void>): void => {
    test(`${name}: ${title}`, async () => {
      const f = await make();
      try {
        await fn(f);
      } finally {
        await f.close?.();
      }
    });
  };

  withStore('incr counts the hits of a fixed window and starts again after it', async ({ a, advance }) => {
    assert.deepEqual((await a.incr('w', 1, 1000)).count, 1);
    const second = await a.incr('w', 2, 1000);
    assert.equal(second.count, 3);
    assert.ok(second.resetMs > 0 && second.resetMs <= 1000);
    await advance(1001);
    assert.equal((await a.incr('w', 1, 1000)).count, 1);
  });

  withStore('keys count separately', async ({ a }) => {
    await a.incr('x', 5, 1000);
    assert.equal((await a.incr('y', 1, 1000)).count, 1);
  });

  withStore('concurrent increments from two handles are atomic: every count is given once', async ({ a, b }) => {
    const calls = [];
    for (let i = 0; i < 40; i++) calls.push((i % 2 === 0 ? a : b).incr('race', 1, 60_000));
    const counts = (await Promise.all(calls)).map((r) => r.count).sort((x, y) => x - y);
    assert.deepEqual(counts, Array.from({ length: 40 }, (_, i) => i + 1));
  });

  withStore('take: within rate no delay, within burst a delay, beyond it -1 and the bucket unchanged', async ({ a, advance }) => {
    assert.equal(await a.take('t', 1, 1), 0);
    const delayed = await a.take('t', 1, 1);
    assert.ok(delayed > 0 && delayed <= 1000, `delay ${delayed}`);
    assert.equal(await a.take('t', 1, 1), -1);
    await advance(1000);
    // one request drained; the refused one left nothing behind
    assert.ok((await a.take('t', 1, 1)) >= 0);
  });

  withStore('acquire takes at most max slots across handles; release gives one back', async ({ a, b }) => {
    assert.equal(await a.acquire('c', 2), 1);
    assert.equal(await b.acquire('c', 2), 2);
    assert.equal(await a.acquire('c', 2), -1);
    a.release('c');
    // release is fire-and-forget: a later acquire on the same handle sees it
    assert.equal(await a.acquire('c', 2), 2);
  });

  withStore('a mark set through one handle is seen through the other until it expires; a longer mark is kept', async ({ a, b, advance }) => {
    assert.equal(await b.isMarked('m'), false);
    await a.mark('m', 300);
    assert.equal(await b.isMarked('m'), true);
    assert.equal(await a.isMarked('other'), false);
    await b.mark('m', 100);
    await advance(150);
    assert.equal(await a.isMarked('m'), true, 'the shorter mark did not cut the longer one');
    await advance(200);
    assert.equal(await a.isMarked('m'), false);
    assert.equal(await b.isMarked('m'), false);
  });
}
