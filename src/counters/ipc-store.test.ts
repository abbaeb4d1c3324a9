import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CounterService } from './counter-service.js';
import { CounterTable, type QuotaAnswer } from './counter-table.js';
import { OP_LEASE, OP_PREFETCH, OP_RETURN, RECLAIM_ID } from './wire.js';
import { IpcCounterStore, type CounterChannel } from './ipc-store.js';
import { channelTo } from '../../test/helpers/counter-channel.js';

test('two workers racing for one window never let through more than count together', async () => {
  const svc = new CounterService();
  const w1 = new IpcCounterStore(channelTo(svc, 1));
  const w2 = new IpcCounterStore(channelTo(svc, 2));
  const calls = [];
  for (let i = 0; i < 20; i++) calls.push((i % 2 === 0 ? w1 : w2).incr('route/1:v:127.0.0.1', 1, 60_000));
  // (incr is what a custom CounterStore offers; limit-count itself uses hit, below)
  const results = await Promise.all(calls);
  const passed = results.filter((r) => r.count <= 5).length;
  assert.equal(passed, 5);
  assert.deepEqual(results.map((r) => r.count).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
  assert.equal(w1.inFlight + w2.inFlight, 0);
});

test('the operations of one tick go out as one message; each answer reaches its caller', async () => {
  const svc = new CounterService();
  const ch = channelTo(svc, 1);
  const store = new IpcCounterStore(ch);
  const [a, b, c, d] = await Promise.all([
    store.incr('x', 1, 1000), store.take('y', 1, 0), store.acquire('z', 1), store.acquire('z', 1),
  ]);
  assert.equal(ch.messages.length, 1);
  assert.deepEqual(a, { count: 1, resetMs: 1000 });
  assert.equal(b, 0);
  assert.deepEqual([c, d], [1, -1]);
  store.release('z');
  assert.equal(await store.acquire('z', 1), 1);
  assert.equal(ch.messages.length, 2); // the release rode with the next acquire
});

test('an unanswered operation fails after the timeout', async () => {
  let now = 0;
  const store = new IpcCounterStore(channelTo(undefined, 1), 100, () => now);
  const p = store.incr('k', 1, 1000);
  now = 101;
  // the sweeper's timer is unref'd: keep the loop alive until it runs
  const keepAlive = setInterval(() => undefined, 10);
  try {
    await assert.rejects(p, /did not answer within 100 ms/);
  } finally {
    clearInterval(keepAlive);
  }
  assert.equal(store.inFlight, 0);
});

test('a closed channel fails the operations instead of hanging them', async () => {
  const ch = channelTo(undefined, 1);
  const store = new IpcCounterStore(ch);
  const pending = store.acquire('k', 1);
  await new Promise((r) => setImmediate(r)); // sent, not answered
  ch.disconnect();
  await assert.rejects(pending, /primary disconnected/);
  await assert.rejects(store.incr('k', 1, 1000), /IPC channel closed/);
});

/**
 * A node: one CounterService and `n` workers' IpcCounterStores, every message crossing
 * asynchronously in channel order, as over IPC; `clock` drives both sides.
 */
function cluster(n: number, opts: { reclaimTimeoutMs?: number } = {}) {
  let now = 1_000;
  const clock = () => now;
  const listeners = new Map<number, (m: unknown) => void>();
  let messages = 0;
  const ops: number[] = [];
  const svc = new CounterService(new CounterTable(clock), {
    workers: () => n,
    send: (owner, msg) => setImmediate(() => listeners.get(owner)?.(msg)),
    reclaimTimeoutMs: opts.reclaimTimeoutMs ?? 1000,
  });
  const stores = Array.from({ length: n }, (_, i) => {
    const owner = i + 1;
    const ch: CounterChannel = {
      connected: true,
      send(msg) {
        messages++;
        for (let i = 1; i < msg.ops.length; i += 6) ops.push(msg.ops[i] as number);
        setImmediate(() => {
          const results = svc.handle(owner, msg.ops);
          if (results.length > 0) setImmediate(() => listeners.get(owner)?.({ type: 'counter-results', results }));
        });
      },
      onMessage(l) { listeners.set(owner, l); },
      onDisconnect() { /* never */ },
    };
    return new IpcCounterStore(ch, 2_000, clock);
  });
  return {
    svc, stores,
    advance(ms: number) { now += ms; },
    get now() { return now; },
    get messages() { return messages; },
    /** The op codes the workers sent, in order. */
    ops,
  };
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

test('leases: one worker admits synchronously from its lease, with the exact remaining count', async () => {
  const node = cluster(1);
  const [w] = node.stores;
  // the first hit asks the primary (1 token: no rate known yet)
  const first = w!.hit('k', 1000, 60_000);
  assert.ok(first instanceof Promise);
  assert.deepEqual(await first, { admitted: true, remaining: 999, resetMs: 60_000 });
  // a burst: the second ask is sized by the rate, the rest is admitted without messages
  const answers: QuotaAnswer[] = [];
  let sync = 0;
  for (let i = 0; i < 400; i++) {
    const a = w!.hit('k', 1000, 60_000);
    if (!(a instanceof Promise)) sync++;
    answers.push(await a);
  }
  assert.ok(sync > 350, `${sync} of 400 admitted synchronously`);
  assert.ok(node.messages < 10, `${node.messages} messages`);
  assert.deepEqual(answers.map((a) => a.remaining), Array.from({ length: 400 }, (_, i) => 998 - i));
  assert.ok(answers.every((a) => a.admitted));
});

test('leases: one worker never admits more than count; refusals are then synchronous until the window ends', async () => {
  const node = cluster(1);
  const [w] = node.stores;
  let admitted = 0;
  for (let i = 0; i < 60; i++) if ((await w!.hit('k', 50, 10_000)).admitted) admitted++;
  assert.equal(admitted, 50);
  const refused = w!.hit('k', 50, 10_000);
  assert.ok(!(refused instanceof Promise));
  assert.deepEqual(refused, { admitted: false, remaining: 0, resetMs: 10_000 });
  node.advance(10_000);
  const next = w!.hit('k', 50, 10_000);
  assert.ok(next instanceof Promise); // a new window: asked again
  assert.deepEqual(await next, { admitted: true, remaining: 49, resetMs: 10_000 });
});

test('leases: several workers together admit exactly count, even when one holds unused tokens when the others run out', async () => {
  const node = cluster(3);
  const [a, b, c] = node.stores;
  // worker a warms up and takes a block, then goes quiet
  for (let i = 0; i < 30; i++) await a!.hit('k', 300, 60_000);
  // b and c race for the rest
  let admitted = 30;
  let refused = 0;
  const remaining: number[] = [];
  for (let round = 0; round < 200; round++) {
    const answers = await Promise.all([b!.hit('k', 300, 60_000), c!.hit('k', 300, 60_000)]);
    for (const x of answers) {
      if (x.admitted) { admitted++; remaining.push(x.remaining); } else refused++;
    }
  }
  await settle();
  assert.equal(admitted, 300); // a's unused tokens were reclaimed, none stranded
  assert.equal(refused, 400 - 270);
  // never over-stated: at the i-th admission of b/c at most 300 - 30 - i were left
  remaining.forEach((r, i) => assert.ok(r <= 300 - 31 - i + 0, `remaining ${r} at admission ${i}`));
  // a was asked to give back: now it has nothing either
  assert.equal((await a!.hit('k', 300, 60_000)).admitted, false);
});

test('leases: a failing primary fails the waiting hits (allow_degradation is the plugin\'s)', async () => {
  let now = 0;
  const ch = channelTo(undefined, 1);
  const store = new IpcCounterStore(ch, 100, () => now);
  const p1 = store.hit('k', 10, 1000);
  const p2 = store.hit('k', 10, 1000);
  assert.ok(p1 instanceof Promise && p2 instanceof Promise);
  now = 101;
  const keepAlive = setInterval(() => undefined, 10);
  try {
    await assert.rejects(p1 as Promise<QuotaAnswer>, /did not answer within 100 ms/);
    await assert.rejects(p2 as Promise<QuotaAnswer>, /did not answer within 100 ms/);
  } finally {
    clearInterval(keepAlive);
  }
  assert.equal(ch.messages.length, 1); // the second hit waited for the first request's answer
});

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** One worker and a primary the test plays by hand: it sees every operation sent and answers when it likes. */
function byHand(timeoutMs = 2_000) {
  let now = 1_000;
  let listener: ((m: unknown) => void) | undefined;
  const sent: (number | string)[][] = [];
  const ch: CounterChannel = {
    connected: true,
    send(msg) { for (let i = 0; i < msg.ops.length; i += 6) sent.push(msg.ops.slice(i, i + 6)); },
    onMessage(l) { listener = l; },
    onDisconnect() { /* never */ },
  };
  const store = new IpcCounterStore(ch, timeoutMs, () => now);
  return {
    store,
    advance(ms: number) { now += ms; },
    /** The operations sent since the last call. */
    async ops(): Promise<(number | string)[][]> { await tick(); return sent.splice(0); },
    /** Delivers one result tuple, as the primary would. */
    async answer(...result: (number | string | null)[]): Promise<void> {
      listener?.({ type: 'counter-results', results: result });
      await tick();
    },
    /** `n` hits, each of which must be admitted synchronously. */
    admit(n: number, key = 'k', limit = 1000, windowMs = 10_000): QuotaAnswer[] {
      return Array.from({ length: n }, (_, i) => {
        const a = store.hit(key, limit, windowMs);
        assert.ok(!(a instanceof Promise), `hit ${i + 1} of ${n} waited`);
        assert.equal(a.admitted, true);
        return a;
      });
    },
  };
}

/** The first hit of `k` waits; the primary grants `granted` (generation 1): the worker holds granted - 1 after it. */
async function firstLease(p: ReturnType<typeof byHand>, granted: number, pool: number, sole: boolean): Promise<void> {
  const first = p.store.hit('k', 1000, 10_000);
  assert.ok(first instanceof Promise);
  const [ask] = await p.ops();
  assert.deepEqual(ask!.slice(1), [OP_LEASE, 'k', 1000, 10_000, 1]);
  await p.answer(ask![0]!, granted, 10_000, pool, 1, sole ? 1 : 0);
  assert.equal((await first).admitted, true);
}

test('prefetch: at a steady rate no hit waits after warm-up; the next lease is asked for while tokens are held', async () => {
  for (const workers of [1, 2]) {
    const node = cluster(workers);
    const limit = 1_000_000;
    let admitted = 0;
    const step = async (check: boolean): Promise<void> => {
      for (const w of node.stores) {
        for (let i = 0; i < 5; i++) {
          const a = w.hit('k', limit, 60_000);
          if (check) {
            assert.ok(!(a instanceof Promise), `${workers} worker(s): a hit waited at ${node.now}`);
            assert.equal(a.admitted, true);
            // one worker: exact; several: never above what is left
            if (workers === 1) assert.equal(a.remaining, limit - admitted - 1);
            else assert.ok(a.remaining <= limit - admitted - 1);
          }
          admitted++;
          await a;
        }
      }
      node.advance(1);
      await tick();
    };
    for (let t = 0; t < 100; t++) await step(false); // learns the rate
    const before = node.ops.length;
    for (let t = 0; t < 1000; t++) await step(true); // 5 000 hits a second per worker
    const asks = node.ops.slice(before);
    // one lease per ~50 ms per worker, every one of them asked for ahead of need
    assert.ok(asks.length >= 15 * workers, `${asks.length} asks`);
    assert.deepEqual(asks.filter((op) => op !== OP_PREFETCH), []);
  }
});

test('prefetch: a grant of the same window adds to the tokens still held; nothing lost, nothing extra', async () => {
  const p = byHand();
  await firstLease(p, 8, 992, true); // 7 held; low water 4
  assert.deepEqual(p.admit(3).map((a) => a.remaining), [998, 997, 996]); // sole: tokens + pool, exact
  const [pre, ...more] = await p.ops();
  assert.deepEqual(more, []);
  assert.deepEqual(pre!.slice(1, 5), [OP_PREFETCH, 'k', 1000, 10_000]);
  p.admit(2); // still admitting while the ask is in flight
  assert.deepEqual(await p.ops(), []); // one ask at a time
  await p.answer(pre![0]!, 6, 10_000, 986, 1, 1);
  // 2 held + 6 granted: exactly 8 more, counting down to the primary's pool
  assert.deepEqual(p.admit(8).map((a) => a.remaining), [993, 992, 991, 990, 989, 988, 987, 986]);
  const next = p.store.hit('k', 1000, 10_000);
  assert.ok(next instanceof Promise); // 14 admitted = 8 + 6 granted
  const ops = await p.ops();
  assert.deepEqual(ops.map((o) => o[1]), [OP_PREFETCH]); // sent at the new low-water mark (3); the hit waits for it
});

test('prefetch: a grant for a new window drops what is left of the old one', async () => {
  const p = byHand();
  await firstLease(p, 8, 992, true);
  p.admit(3);
  let [pre] = await p.ops();
  assert.equal(pre![1], OP_PREFETCH);
  // the primary's window closed before it read the ask: generation 2, and the 4 tokens held are gone
  await p.answer(pre![0]!, 6, 10_000, 994, 2, 1);
  assert.deepEqual(p.admit(6).map((a) => a.remaining), [999, 998, 997, 996, 995, 994]);
  const waiting = p.store.hit('k', 1000, 10_000);
  assert.ok(waiting instanceof Promise);
  [pre] = await p.ops(); // asked at 3 left
  await p.answer(pre![0]!, 8, 5_000, 986, 2, 1);
  assert.equal((await waiting).admitted, true);
  // the window ends on this clock with 7 tokens held and a prefetch in flight
  p.admit(3);
  [pre] = await p.ops();
  assert.equal(pre![1], OP_PREFETCH);
  p.advance(5_000);
  const late = p.store.hit('k', 1000, 10_000);
  assert.ok(late instanceof Promise); // not from the old window's tokens
  await p.answer(pre![0]!, 5, 10_000, 995, 3, 1);
  assert.deepEqual(await late, { admitted: true, remaining: 999, resetMs: 5_000 }); // sent 5 s ago
  assert.equal(p.admit(4).at(-1)!.remaining, 995);
  assert.ok(p.store.hit('k', 1000, 10_000) instanceof Promise);
});

test('prefetch: a reclaim during a prefetch takes every unused token; the grant does not bring them back', async () => {
  const p = byHand();
  await firstLease(p, 8, 100, false);
  p.admit(3); // 4 held
  const [pre] = await p.ops();
  assert.equal(pre![1], OP_PREFETCH);
  // another worker found the pool empty: the primary wants this window's unused tokens back
  await p.answer(RECLAIM_ID, 'k', 1, 0, 0, 0);
  assert.deepEqual(await p.ops(), [[0, OP_RETURN, 'k', 4, 1, 0]]);
  // nothing held: hits wait for the prefetch's answer, and are served from it first
  const w1 = p.store.hit('k', 1000, 10_000);
  const w2 = p.store.hit('k', 1000, 10_000);
  assert.ok(w1 instanceof Promise && w2 instanceof Promise);
  await p.answer(pre![0]!, 3, 10_000, 0, 1, 0);
  assert.deepEqual([await w1, await w2].map((a) => [a.admitted, a.remaining]), [[true, 2], [true, 1]]);
  p.admit(1);
  assert.ok(p.store.hit('k', 1000, 10_000) instanceof Promise);
  // admitted: 1 + 3 + 2 + 1 = 7 = 8 + 3 granted - 4 given back
});

test('prefetch: across many windows the workers never admit more than count, nor refuse while any is left', async () => {
  // (several workers share a pool of 10 in single tokens, so no prefetch there: 40)
  for (const [workers, limit] of [[1, 10], [2, 40]] as const) {
    const node = cluster(workers);
    const windowMs = 100;
    // an answer's window is known by its end (its time + resetMs: within a few ms of the primary's)
    const answers: { end: number; admitted: boolean }[] = [];
    const record = (a: QuotaAnswer): void => { answers.push({ end: node.now + a.resetMs, admitted: a.admitted }); };
    const pending: Promise<void>[] = [];
    let seed = 7;
    for (let t = 0; t < 3_000; t++) {
      // per worker and ms, phases of 0.8× and 2.5× the limit's rate: some windows run dry, some end with tokens held
      const rate = ((t / 150) | 0) % 2 === 0 ? 0.8 : 2.5;
      for (const w of node.stores) {
        seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
        const n = Math.floor((rate * limit) / windowMs / workers + (seed >>> 8) / 8_388_608);
        for (let i = 0; i < n; i++) {
          const a = w.hit('k', limit, windowMs);
          if (a instanceof Promise) pending.push(a.then(record)); else record(a);
        }
      }
      node.advance(1);
      await tick();
    }
    await Promise.all(pending);
    answers.sort((a, b) => a.end - b.end);
    const windows: { admitted: number; refused: number }[] = [];
    answers.forEach((a, i) => {
      if (i === 0 || a.end - answers[i - 1]!.end > windowMs / 2) windows.push({ admitted: 0, refused: 0 });
      windows.at(-1)![a.admitted ? 'admitted' : 'refused']++;
    });
    const shown = `${workers} worker(s), admitted/refused per window: ${windows.map((w) => `${w.admitted}/${w.refused}`).join(' ')}`;
    assert.ok(windows.length > 25, shown);
    assert.ok(windows.every((w) => w.admitted <= limit), shown);
    assert.ok(windows.every((w) => w.refused === 0 || w.admitted === limit), shown);
    assert.ok(windows.some((w) => w.refused === 0) && windows.some((w) => w.refused > 0), shown);
    assert.ok(node.ops.filter((op) => op === OP_PREFETCH).length > 20, shown);
  }
});

test('prefetch: a failed prefetch fails no hit admitted from the tokens held; the next hit without a token asks', async () => {
  const p = byHand(100);
  await firstLease(p, 8, 992, true);
  p.admit(3);
  let [pre] = await p.ops();
  assert.equal(pre![1], OP_PREFETCH);
  await p.answer(pre![0]!, null, 'the counter service failed', 0, 0, 0);
  p.admit(4); // what is held still admits, with no new prefetch for it
  assert.deepEqual(await p.ops(), []);
  const asking = p.store.hit('k', 1000, 10_000);
  assert.ok(asking instanceof Promise);
  const [ask] = await p.ops();
  assert.equal(ask![1], OP_LEASE);
  await p.answer(ask![0]!, 8, 10_000, 977, 1, 1);
  assert.equal((await asking).admitted, true);
  // a prefetch the primary never answers: the hits admitted meanwhile stand, only a hit that found no token fails
  p.admit(3);
  [pre] = await p.ops();
  assert.equal(pre![1], OP_PREFETCH);
  p.admit(4);
  const waiting = p.store.hit('k', 1000, 10_000) as Promise<QuotaAnswer>;
  p.advance(101);
  const keepAlive = setInterval(() => undefined, 10);
  try {
    await assert.rejects(waiting, /did not answer within 100 ms/);
  } finally {
    clearInterval(keepAlive);
  }
  const again = p.store.hit('k', 1000, 10_000);
  assert.ok(again instanceof Promise);
  const [ask2] = await p.ops();
  assert.equal(ask2![1], OP_LEASE);
  await p.answer(ask2![0]!, 1, 10_000, 976, 1, 1);
  assert.equal((await again).admitted, true);
});
