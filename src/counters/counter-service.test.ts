import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { CounterService } from './counter-service.js';
import { CounterTable, LocalCounterStore, NEEDS_RECLAIM } from './counter-table.js';
import {
  OP_ACQUIRE, OP_INCR, OP_LEASE, OP_MARK, OP_MARKED, OP_PREFETCH, OP_RELEASE, OP_RETURN, OP_TAKE, RECLAIM_ID,
} from './wire.js';
import type { CounterResultsMessage } from './wire.js';

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

test('marks: set over the wire, answered with the ms left, kept at the longest, swept once over', () => {
  const c = clock();
  const svc = new CounterService(new CounterTable(c.now));
  assert.deepEqual(svc.handle(1, [1, OP_MARK, 'jti', 5000, 0, 0, 2, OP_MARKED, 'jti', 0, 0, 0, 3, OP_MARKED, 'x', 0, 0, 0]),
    [1, 1, 0, 0, 0, 0, 2, 5000, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0]);
  svc.handle(2, [4, OP_MARK, 'jti', 1000, 0, 0]);
  c.advance(4000);
  assert.deepEqual(svc.handle(2, [5, OP_MARKED, 'jti', 0, 0, 0]), [5, 1000, 0, 0, 0, 0]);
  svc.table.sweep();
  assert.equal(svc.table.size, 1);
  c.advance(1000);
  assert.deepEqual(svc.handle(2, [6, OP_MARKED, 'jti', 0, 0, 0]), [6, 0, 0, 0, 0, 0]);
  svc.table.sweep();
  assert.equal(svc.table.size, 0);
});

test('marks are bounded: a new one beyond the cap is refused until old ones expire', () => {
  const c = clock();
  const svc = new CounterService(new CounterTable(c.now, 2));
  assert.deepEqual(svc.handle(1, [1, OP_MARK, 'a', 1000, 0, 0, 2, OP_MARK, 'b', 5000, 0, 0]), [1, 1, 0, 0, 0, 0, 2, 1, 0, 0, 0, 0]);
  const refused = svc.handle(1, [3, OP_MARK, 'c', 1000, 0, 0]);
  assert.deepEqual([refused[0], refused[1]], [3, null]);
  assert.match(String(refused[2]), /too many marks/);
  assert.deepEqual(svc.handle(1, [4, OP_MARK, 'a', 9000, 0, 0]), [4, 1, 0, 0, 0, 0], 'a held key may be extended');
  c.advance(5000);
  assert.deepEqual(svc.handle(1, [5, OP_MARK, 'c', 1000, 0, 0]), [5, 1, 0, 0, 0, 0], 'b expired: room again');
});

test('service: the flat wire format, errors by id, release without an answer', () => {
  const c = clock();
  const svc = new CounterService(new CounterTable(c.now));
  const out = svc.handle(7, [
    1, OP_INCR, 'a', 1, 5000, 0,
    2, OP_TAKE, 'b', 1, 0, 0,
    3, OP_ACQUIRE, 'c', 1, 0, 0,
    4, OP_ACQUIRE, 'c', 1, 0, 0,
    0, OP_RELEASE, 'c', 0, 0, 0,
    5, 99, 'x', 0, 0, 0,
    6, OP_INCR, 42, 1, 1, 0,
    7, OP_LEASE, 'l', 10, 5000, 4,
  ]);
  assert.deepEqual(out, [
    1, 1, 5000, 0, 0, 0,
    2, 0, 0, 0, 0, 0,
    3, 1, 0, 0, 0, 0,
    4, -1, 0, 0, 0, 0,
    5, null, 'unknown counter operation 99', 0, 0, 0,
    6, null, 'malformed counter operation', 0, 0, 0,
    7, 4, 5000, 6, 2, 1, // 4 tokens, window closes in 5 s, 6 left in the pool, window generation 2, sole worker
  ]);
  assert.equal(svc.table.inUse('c'), 0);
  svc.handle(7, [1, OP_ACQUIRE, 'c', 2, 0, 0]);
  svc.handle(8, [1, OP_ACQUIRE, 'c', 2, 0, 0]);
  assert.equal(svc.ownerGone(7), 1);
  assert.equal(svc.table.inUse('c'), 1);
});

test('attach: answers a worker on its own channel and releases a dead worker\'s slots', () => {
  const cluster = new EventEmitter();
  const svc = new CounterService();
  svc.attach(cluster as never);
  const sent: unknown[] = [];
  const worker = { id: 3, isConnected: () => true, send: (m: unknown) => { sent.push(m); return true; } };
  cluster.emit('message', worker, { type: 'counter-ops', ops: [9, OP_ACQUIRE, 'k', 1, 0, 0] });
  cluster.emit('message', worker, { type: 'pong', seq: 1 }); // not ours
  assert.deepEqual(sent, [{ type: 'counter-results', results: [9, 1, 0, 0, 0, 0] }]);
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

test('LocalCounterStore.hit: synchronous, exact remaining, refusals once the count is reached', () => {
  const c = clock();
  const s = new LocalCounterStore(new CounterTable(c.now));
  assert.deepEqual(s.hit('k', 2, 1000), { admitted: true, remaining: 1, resetMs: 1000 });
  assert.deepEqual(s.hit('k', 2, 1000), { admitted: true, remaining: 0, resetMs: 1000 });
  c.advance(400);
  assert.deepEqual(s.hit('k', 2, 1000), { admitted: false, remaining: 0, resetMs: 600 });
  c.advance(600);
  assert.deepEqual(s.hit('k', 2, 1000), { admitted: true, remaining: 1, resetMs: 1000 });
});

test('lease sizing: what is wanted, at most what is left; with several workers a share of it, single tokens when little is left', () => {
  const c = clock();
  const t = new CounterTable(c.now);
  // one worker: the whole pool is its own
  assert.deepEqual(t.lease('one', 100, 1000, 30, 1, 1), { granted: 30, resetMs: 1000, pool: 70, gen: 1, sole: true });
  assert.deepEqual(t.lease('one', 100, 1000, 500, 1, 1), { granted: 70, resetMs: 1000, pool: 0, gen: 1, sole: true });
  assert.deepEqual(t.lease('one', 100, 1000, 1, 1, 1), { granted: 0, resetMs: 1000, pool: 0, gen: 1, sole: true });
  // four workers: at most pool / (2 × 4)
  assert.equal((t.lease('four', 1000, 1000, 500, 1, 4) as { granted: number }).granted, 125);
  assert.equal((t.lease('four', 1000, 1000, 500, 2, 4) as { granted: number }).granted, 109); // 875 / 8
  const small = new CounterTable(c.now);
  for (let i = 0; i < 7; i++) assert.equal((small.lease('s', 7, 1000, 50, 1 + (i % 4), 4) as { granted: number }).granted, 1);
  assert.equal((small.lease('s', 7, 1000, 50, 1, 4) as { granted: number }).granted, 0);
  // a new window starts from zero with the next generation
  c.advance(1000);
  assert.deepEqual(t.lease('one', 100, 1000, 10, 1, 1), { granted: 10, resetMs: 1000, pool: 90, gen: 3, sole: true });
});

test('leases: an empty pool with tokens held elsewhere needs a reclaim; given-back tokens return to the pool', () => {
  const c = clock();
  const t = new CounterTable(c.now);
  assert.equal((t.lease('k', 10, 1000, 4, 1, 2) as { granted: number }).granted, 2); // 10 / 4
  assert.equal((t.lease('k', 10, 1000, 4, 2, 2) as { granted: number }).granted, 2);
  for (let i = 0; i < 6; i++) assert.equal((t.lease('k', 10, 1000, 1, 2, 2) as { granted: number }).granted, 1);
  // worker 2 asked again, so its lease is used up; worker 1 may still hold one token
  assert.equal(t.lease('k', 10, 1000, 1, 2, 2), NEEDS_RECLAIM);
  assert.deepEqual(t.holders('k'), { owners: [1], gen: 1 });
  t.giveBack('k', 1, 1, 1);
  assert.equal(t.holders('k'), undefined);
  assert.equal((t.lease('k', 10, 1000, 1, 2, 2) as { granted: number }).granted, 1);
  assert.equal((t.lease('k', 10, 1000, 1, 2, 2) as { granted: number }).granted, 0); // nobody holds anything: refused
  // never more back than was lent, nothing back into a closed window
  const u = new CounterTable(c.now);
  u.lease('k', 10, 1000, 3, 1, 1);
  u.giveBack('k', 1, 50, 1); // it was lent 2 beyond the one it used
  assert.equal((u.lease('k', 10, 1000, 100, 2, 1) as { pool: number }).pool, 0);
});

/** A primary and `n` workers' views of it, messages delivered synchronously (the ordering of one channel is kept). */
function node(workers: number, opts: { reclaimTimeoutMs?: number; silent?: Set<number> } = {}) {
  const c = clock();
  const inbox = new Map<number, CounterResultsMessage[]>();
  const svc = new CounterService(new CounterTable(c.now), {
    workers: () => workers,
    send: (owner, msg) => { if (!opts.silent?.has(owner)) (inbox.get(owner) ?? inbox.set(owner, []).get(owner)!).push(msg); },
    reclaimTimeoutMs: opts.reclaimTimeoutMs ?? 1000,
  });
  return { c, svc, inbox, take: (owner: number) => { const m = inbox.get(owner) ?? []; inbox.set(owner, []); return m.flatMap((x) => x.results); } };
}

test('service: a lease request on an empty pool waits for the holders to give back, then is decided', () => {
  const n = node(3);
  // worker 1 holds a block of 20 (120 / 6); worker 2 uses up the rest
  assert.deepEqual(n.svc.handle(1, [1, OP_LEASE, 'k', 120, 60_000, 50]), [1, 20, 60_000, 100, 1, 0]);
  let left = 100;
  while (left > 0) left -= n.svc.handle(2, [1, OP_LEASE, 'k', 120, 60_000, 1000])[1] as number;
  assert.equal(left, 0);
  // worker 2 needs more: no answer yet, worker 1 is asked for its unused tokens
  assert.deepEqual(n.svc.handle(2, [7, OP_LEASE, 'k', 120, 60_000, 5]), []);
  assert.deepEqual(n.take(1), [RECLAIM_ID, 'k', 1, 0, 0, 0]);
  // a request of worker 3 arriving meanwhile waits in line
  assert.deepEqual(n.svc.handle(3, [8, OP_LEASE, 'k', 120, 60_000, 1]), []);
  // worker 1 used 4 of its 19 spare tokens: 15 go back, and the held requests are decided in order
  assert.deepEqual(n.svc.handle(1, [0, OP_RETURN, 'k', 15, 1, 0]), []);
  assert.deepEqual(n.take(2), [7, 2, 60_000, 13, 1, 0]); // 15 / 6
  assert.deepEqual(n.take(3), [8, 1, 60_000, 12, 1, 0]);
  // a worker cannot give back more than it was lent
  n.svc.handle(2, [0, OP_RETURN, 'k', 500, 1, 0]);
  assert.deepEqual(n.svc.handle(3, [9, OP_LEASE, 'k', 120, 60_000, 1]), [9, 1, 60_000, 12, 1, 0]);
});

test('service: refused at once when nobody holds anything; a holder that died or does not answer counts as used', async () => {
  const d = node(2);
  assert.deepEqual(d.svc.handle(1, [1, OP_LEASE, 'k', 4, 60_000, 50]).slice(0, 2), [1, 1]); // 4 / 4: a single token
  for (let i = 0; i < 3; i++) assert.deepEqual(d.svc.handle(2, [1, OP_LEASE, 'k', 4, 60_000, 1]).slice(0, 2), [1, 1]);
  assert.deepEqual(d.svc.handle(2, [9, OP_LEASE, 'k', 4, 60_000, 1]).slice(0, 4), [9, 0, 60_000, 0]);

  const e = node(3, { reclaimTimeoutMs: 20, silent: new Set([1]) });
  e.svc.handle(1, [1, OP_LEASE, 'k', 60, 60_000, 50]); // 10 of 60
  e.svc.handle(3, [1, OP_LEASE, 'k', 60, 60_000, 50]); // 8 of 50
  let left = 42;
  while (left > 0) left -= e.svc.handle(2, [1, OP_LEASE, 'k', 60, 60_000, 1])[1] as number;
  assert.deepEqual(e.svc.handle(2, [5, OP_LEASE, 'k', 60, 60_000, 1]), []); // held: workers 1 and 3 are asked
  assert.deepEqual(e.take(3), [RECLAIM_ID, 'k', 1, 0, 0, 0]);
  e.svc.ownerGone(3); // worker 3 died holding up to 7: lost with it
  assert.deepEqual(e.take(2), []);
  await new Promise((r) => setTimeout(r, 50)); // worker 1 never answers
  assert.deepEqual(e.take(2), [5, 0, 60_000, 0, 1, 0]);
  assert.deepEqual(e.svc.handle(2, [6, OP_LEASE, 'k', 60, 60_000, 1]), [6, 0, 60_000, 0, 1, 0]);
  // its late answer is not counted (it was taken as used)
  e.svc.handle(1, [0, OP_RETURN, 'k', 9, 1, 0]);
  assert.deepEqual(e.svc.handle(2, [7, OP_LEASE, 'k', 60, 60_000, 1]).slice(0, 2), [7, 0]);
});

test('service: a prefetch adds to what its worker may hold, never starts a reclaim, and waits in line behind one', () => {
  const n = node(2);
  assert.deepEqual(n.svc.handle(1, [1, OP_LEASE, 'k', 40, 60_000, 5]), [1, 5, 60_000, 35, 1, 0]); // holds up to 4
  assert.deepEqual(n.svc.handle(1, [2, OP_PREFETCH, 'k', 40, 60_000, 5]), [2, 5, 60_000, 30, 1, 0]); // up to 4 + 5
  let pool = 30;
  while (pool > 0) pool = n.svc.handle(2, [3, OP_LEASE, 'k', 40, 60_000, 100])[3] as number;
  // the pool is empty: a prefetch is answered 0 at once (nobody is refused by it), no reclaim
  assert.deepEqual(n.svc.handle(1, [4, OP_PREFETCH, 'k', 40, 60_000, 5]), [4, 0, 60_000, 0, 1, 0]);
  assert.deepEqual([n.take(1), n.take(2)], [[], []]);
  // a plain request does start one; worker 1's next prefetch waits in line behind it
  assert.deepEqual(n.svc.handle(2, [5, OP_LEASE, 'k', 40, 60_000, 100]), []);
  assert.deepEqual(n.take(1), [RECLAIM_ID, 'k', 1, 0, 0, 0]);
  assert.deepEqual(n.svc.handle(1, [6, OP_PREFETCH, 'k', 40, 60_000, 5]), []);
  // all 9 it may hold can come back (not more), then the held requests are decided in order
  n.svc.handle(1, [0, OP_RETURN, 'k', 50, 1, 0]);
  assert.deepEqual(n.take(2), [5, 2, 60_000, 7, 1, 0]); // 9 / 4
  assert.deepEqual(n.take(1), [6, 1, 60_000, 6, 1, 0]);
});
