import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendBounded, intervalBetween, intervalQuantile, type SummarySnapshot } from './metrics-interval.js';

const BOUNDS = [1, 2, 5];

test('intervalQuantile: the quantile of the bucket differences, not of everything since start', () => {
  // Before: 100 fast requests (≤ 1). During the interval: 10 more fast, 10 between 2 and 5.
  const before = [100, 100, 100, 100];
  const after = [110, 110, 120, 120];
  assert.equal(intervalQuantile(BOUNDS, before, after, 0.5), 1);
  assert.equal(intervalQuantile(BOUNDS, before, after, 0.75), 3.5);
  // Over everything the median would still be the fast bucket's.
  assert.ok(intervalQuantile(BOUNDS, undefined, after, 0.75)! <= 1);
});

test('intervalQuantile: nothing observed in the interval is null; a rank in +Inf is the highest bound', () => {
  assert.equal(intervalQuantile(BOUNDS, [3, 3, 3, 3], [3, 3, 3, 3], 0.5), null);
  assert.equal(intervalQuantile(BOUNDS, [0, 0, 0, 0], [0, 0, 0, 4], 0.99), 5);
});

test('intervalQuantile: counters that went down were reset, and the new state is the interval', () => {
  assert.equal(intervalQuantile(BOUNDS, [50, 50, 50, 50], [0, 4, 4, 4], 0.5), 1.5);
});

function snapshot(time: number, total2xx: number, total5xx: number, buckets: number[], calls: number, meanUs: number): SummarySnapshot {
  return {
    time,
    histograms: { route_latency_ms: { bounds: BOUNDS }, plugin_cost_us: { bounds: [10, 100] } },
    routes: [{ route: 'r1', requests: { total: total2xx + total5xx, '1xx': 0, '2xx': total2xx, '3xx': 0, '4xx': 0, '5xx': total5xx }, latency_ms: { buckets } }],
    plugins: [{ plugin: 'key-auth', phase: 'rewrite', calls, mean_us: meanUs, buckets: [calls, calls, calls] }],
  };
}

test('intervalBetween: rates, the status mix, interval latency and plugin cost from two summaries', () => {
  const a = snapshot(10_000, 100, 0, [100, 100, 100, 100], 100, 5);
  const b = snapshot(12_000, 140, 20, [100, 130, 160, 160], 160, 8);
  const p = intervalBetween(a, b)!;
  assert.equal(p.time, 12);
  assert.equal(p.seconds, 2);
  assert.equal(p.requests_per_s, 30);
  assert.deepEqual(p.status, { '1xx': 0, '2xx': 40, '3xx': 0, '4xx': 0, '5xx': 20 });
  assert.deepEqual(p.routes.r1, { requests_per_s: 30, p50_ms: 2, p99_ms: 4.94 });
  // 160 calls × 8 µs − 100 × 5 µs over 60 calls
  assert.deepEqual(p.plugins['key-auth/rewrite'], { calls_per_s: 30, mean_us: 13, p99_us: 9.9 });
});

test('intervalBetween: a route or plugin new in the second summary counts whole; no later time, no point', () => {
  const a: SummarySnapshot = { ...snapshot(0, 0, 0, [0, 0, 0, 0], 0, 0), routes: [], plugins: [] };
  const b = snapshot(1000, 3, 1, [4, 4, 4, 4], 2, 7);
  const p = intervalBetween(a, b)!;
  assert.equal(p.requests_per_s, 4);
  assert.equal(p.routes.r1!.p50_ms, 0.5);
  assert.equal(p.plugins['key-auth/rewrite']!.mean_us, 7);
  assert.equal(intervalBetween(b, b), undefined);
});

test('appendBounded keeps the newest points', () => {
  assert.deepEqual(appendBounded([1, 2, 3], 4, 3), [2, 3, 4]);
  assert.deepEqual(appendBounded([], 1, 3), [1]);
});
