import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AggregatorRegistry } from 'prom-client';
import { fastCounter, fastHistogram, LabelledCounter } from './fast-metrics.js';
import { metricsRegistry } from './metrics.js';

test('counter: one series per label set, exported from its first increment, in prom-client\'s text format', async () => {
  const c = fastCounter('test_fast_counter_total', 'a test counter', ['type', 'route']);
  assert.equal(fastCounter('test_fast_counter_total', 'again', ['type', 'route']), c); // get-or-create
  const s = c.labels('ingress', 'r1');
  assert.equal(c.labels('ingress', 'r1'), s);
  c.labels('egress', 'r1'); // never incremented: not exported
  s.inc(120);
  s.inc();
  const text = await metricsRegistry.getSingleMetricAsString('test_fast_counter_total');
  assert.match(text, /# TYPE test_fast_counter_total counter/);
  assert.match(text, /test_fast_counter_total\{type="ingress",route="r1"\} 121/);
  assert.doesNotMatch(text, /egress/);
});

test('histogram: cumulative buckets with le first, +Inf, sum and count; a reset starts over', async () => {
  const h = fastHistogram('test_fast_latency', 'a test histogram', ['type'], [1, 5, 10]);
  const s = h.labels('request');
  s.observe(0.5);
  s.observe(5);
  s.observe(7);
  s.observe(100);
  h.labels('upstream'); // no observation: not exported
  const text = await metricsRegistry.getSingleMetricAsString('test_fast_latency');
  assert.match(text, /test_fast_latency_bucket\{le="1",type="request"\} 1\n/);
  assert.match(text, /test_fast_latency_bucket\{le="5",type="request"\} 2\n/);
  assert.match(text, /test_fast_latency_bucket\{le="10",type="request"\} 3\n/);
  assert.match(text, /test_fast_latency_bucket\{le="\+Inf",type="request"\} 4\n/);
  assert.match(text, /test_fast_latency_sum\{type="request"\} 112.5\n/);
  assert.match(text, /test_fast_latency_count\{type="request"\} 4$/m);
  assert.doesNotMatch(text, /upstream/);
  const epoch = h.epoch;
  metricsRegistry.resetMetrics();
  assert.equal(h.epoch, epoch + 1);
  assert.equal(h.size, 0);
  assert.doesNotMatch(await metricsRegistry.getSingleMetricAsString('test_fast_latency'), /request/);
});

test('workers\' series are summed by the cluster aggregation', async () => {
  const c = new LabelledCounter('test_fast_agg_total', 'summed', ['code']);
  c.labels('200').inc(3);
  const one = { ...c.get() };
  c.labels('200').inc(4);
  const two = c.get();
  const merged = AggregatorRegistry.aggregate([[one], [two]]);
  const text = await merged.getSingleMetricAsString('test_fast_agg_total');
  assert.match(text, /test_fast_agg_total\{code="200"\} 10/);
});
