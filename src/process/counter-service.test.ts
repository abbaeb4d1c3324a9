import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import {
  CounterService, CounterTable, LocalCounterStore, OP_ACQUIRE, OP_INCR, OP_RELEASE, OP_TAKE,
} from './counter-service.js';

function clock(start = 1_000): { now: () => number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => { t += ms; } };
}

test('fixed window: the first hit opens the window, hits count up, a new window starts when it closes', () => {
  const c = clock();
  const t = new CounterTable(c.now);
  assert.deepEqual(t.incr('k', 1, 60_000), { count: 1, resetMs: 60_000 });
  c.advance(10_000);
  assert.deepEqual(t.incr('k', 1, 60_000), { count: 2, resetMs: 50_000 });
  assert.deepEqual(t.incr('other', 1, 60_000), { count: 1, resetMs: 60_000 });
  c.advance(49_999);
  assert.deepEqual(t.incr('k', 2, 60_000), { count: 4, resetMs: 1 });
  c.advance(1);
  assert.deepEqual(t.incr('k', 1, 60_000), { count: 1, resetMs: 60_000 });
});

test('leaky bucket: as nginx limit_req — within rate passes, burst is delayed, beyond burst rejected without a trace', () => {
  const c = clock();
  const t = new CounterTable(c.now);
  // rate 2/s, burst 1
  assert.equal(t.take('k', 2, 1), 0); // a new key starts empty
  assert.equal(t.take('k', 2, 1), 500); // one in excess: wait 1/rate
  assert.equal(t.take('k', 2, 1), -1); // two in excess > burst
  c.advance(250); // drains 0.5
  assert.equal(t.take('k', 2, 1), -1); // 1 - 0.5 + 1 = 1.5 > 1
  c.advance(250); // the rejected ones left nothing: 1 - 1 + 1 = 1
  assert.equal(t.take('k', 2, 1), 500);
  c.advance(10_000);
  assert.equal(t.take('k', 2, 1), 0);
  // burst 0: exactly the rate
  assert.equal(t.take('z', 1, 0), 0);
  assert.equal(t.take('z', 1, 0), -1);
  c.advance(1000);
  assert.equal(t.take('z', 1, 0), 0);
});

test('leaky bucket: no floating point rejection at exactly burst', () => {
  const c = clock();
  const t = new CounterTable(c.now);
  assert.equal(t.take('k', 3, 2), 0);
  c.advance(1000 / 3);
  assert.ok(t.take('k', 3, 2) >= 0);
  for (let i = 0; i < 20; i++) {
    c.advance(1000 / 3);
    assert.ok(t.take('k', 3, 2) >= 0, `step ${i}`);
  }
});

test('concurrency slots: at most max, released per owner, a dead owner gives all its slots back', () => {
  const t = new CounterTable();
  assert.equal(t.acquire('k', 3, 1), 1);
  assert.equal(t.acquire('k', 3, 2), 2);
  assert.equal(t.acquire('k', 3, 2), 3);
  assert.equal(t.acquire('k', 3, 1), -1);
  assert.equal(t.inUse('k'), 3);
  t.release('k', 1);
  assert.equal(t.inUse('k'), 2);
  t.release('k', 1); // owner 1 holds none any more: ignored
  assert.equal(t.inUse('k'), 2);
  assert.equal(t.releaseOwner(2), 2);
  assert.equal(t.inUse('k'), 0);
  assert.equal(t.acquire('k', 1, 3), 1);
});

test('sweep forgets closed windows and drained buckets only', () => {
  const c = clock();
  const t = new CounterTable(c.now);
  t.incr('w', 1, 1000);
  t.take('b', 10, 5);
  t.take('b', 10, 5); // excess 1
  t.acquire('c', 5, 1);
  c.advance(150); // bucket needs (1 + 1) / 10 s = 200 ms to drain
  t.sweep();
  assert.equal(t.size, 3);
  c.advance(1000);
  t.sweep();
  assert.equal(t.size, 1); // the held slot stays
});

test('service: the flat wire format, errors by id, release without an answer', () => {
  const c = clock();
  const svc = new CounterService(new CounterTable(c.now));
  const out = svc.handle(7, [
    1, OP_INCR, 'a', 1, 5000,
    2, OP_TAKE, 'b', 1, 0,
    3, OP_ACQUIRE, 'c', 1, 0,
    4, OP_ACQUIRE, 'c', 1, 0,
    0, OP_RELEASE, 'c', 0, 0,
    5, 99, 'x', 0, 0,
    6, OP_INCR, 42, 1, 1,
  ]);
  assert.deepEqual(out, [1, 1, 5000, 2, 0, 0, 3, 1, 0, 4, -1, 0, 5, null, 'unknown counter operation 99', 6, null, 'malformed counter operation']);
  assert.equal(svc.table.inUse('c'), 0);
  svc.handle(7, [1, OP_ACQUIRE, 'c', 2, 0]);
  svc.handle(8, [1, OP_ACQUIRE, 'c', 2, 0]);
  assert.equal(svc.ownerGone(7), 1);
  assert.equal(svc.table.inUse('c'), 1);
});

test('attach: answers a worker on its own channel and releases a dead worker\'s slots', () => {
  const cluster = new EventEmitter();
  const svc = new CounterService();
  svc.attach(cluster as never);
  const sent: unknown[] = [];
  const worker = { id: 3, isConnected: () => true, send: (m: unknown) => { sent.push(m); return true; } };
  cluster.emit('message', worker, { type: 'counter-ops', ops: [9, OP_ACQUIRE, 'k', 1, 0] });
  cluster.emit('message', worker, { type: 'pong', seq: 1 }); // not ours
  assert.deepEqual(sent, [{ type: 'counter-results', results: [9, 1, 0] }]);
  assert.equal(svc.table.inUse('k'), 1);
  cluster.emit('exit', worker, 1, null);
  assert.equal(svc.table.inUse('k'), 0);
});

test('LocalCounterStore: the same table behind the async interface', async () => {
  const s = new LocalCounterStore();
  assert.deepEqual(await s.incr('k', 1, 1000), { count: 1, resetMs: 1000 });
  assert.equal(await s.acquire('c', 1), 1);
  assert.equal(await s.acquire('c', 1), -1);
  s.release('c');
  assert.equal(await s.acquire('c', 1), 1);
});
