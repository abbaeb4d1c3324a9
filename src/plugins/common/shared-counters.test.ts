import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CounterService } from '../../process/counter-service.js';
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
