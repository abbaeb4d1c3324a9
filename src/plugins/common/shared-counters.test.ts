import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CounterService, CounterTable, type QuotaAnswer } from '../../process/counter-service.js';
import type { CounterOpsMessage } from '../../process/messages.js';
import { IpcCounterStore, type CounterChannel } from './shared-counters.js';

/** A worker's channel to an in-process CounterService: messages cross asynchronously, as over IPC. */
function channelTo(svc: CounterService | undefined, owner: number): CounterChannel & {
  messages: CounterOpsMessage[]; connected: boolean; disconnect(): void;
} {
  let listener: ((m: unknown) => void) | undefined;
  let onGone: (() => void) | undefined;
  const ch = {
    connected: true,
    messages: [] as CounterOpsMessage[],
    send(msg: CounterOpsMessage) {
      ch.messages.push(msg);
      if (svc === undefined) return; // a primary that never answers
      setImmediate(() => {
        const results = svc.handle(owner, msg.ops);
        if (results.length > 0) setImmediate(() => listener?.({ type: 'counter-results', results }));
      });
    },
    onMessage(l: (m: unknown) => void) { listener = l; },
    onDisconnect(l: () => void) { onGone = l; },
    disconnect() { ch.connected = false; onGone?.(); },
  };
  return ch;
}

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
    get messages() { return messages; },
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
