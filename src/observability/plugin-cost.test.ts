import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AggregatorRegistry } from 'prom-client';
import { BUCKETS, METRIC_NAME, PHASE_INDEX, PluginCost, pluginCost } from './plugin-cost.js';
import { metricsRegistry } from './metrics.js';

test('observations land in the right bucket; the export is cumulative with +Inf, _sum and _count', async () => {
  const c = pluginCost('cost-test-a');
  c.observe(PHASE_INDEX.rewrite, 0.005); // 5 µs
  c.observe(PHASE_INDEX.rewrite, 0.2); // 200 µs
  c.observe(PHASE_INDEX.rewrite, 60_000); // beyond the last bucket
  const text = await metricsRegistry.getSingleMetricAsString(METRIC_NAME);
  const line = (le: string): string | undefined =>
    text.split('\n').find((l) => l.startsWith(`${METRIC_NAME}_bucket{`) && l.includes('plugin="cost-test-a"') && l.includes(`le="${le}"`));
  assert.match(line('0.00001')!, / 1$/);
  assert.match(line('0.0001')!, / 1$/);
  assert.match(line('0.00025')!, / 2$/);
  assert.match(line(String(BUCKETS[BUCKETS.length - 1]))!, / 2$/);
  assert.match(line('+Inf')!, / 3$/);
  assert.match(text, /gatehouse_plugin_phase_duration_seconds_count\{plugin="cost-test-a",phase="rewrite"\} 3/);
  const sum = /gatehouse_plugin_phase_duration_seconds_sum\{plugin="cost-test-a",phase="rewrite"\} ([\d.e-]+)/.exec(text);
  assert.ok(Math.abs(Number(sum![1]) - 60.000205) < 1e-9);
  assert.match(text, /# TYPE gatehouse_plugin_phase_duration_seconds histogram/);
});

test('phases never called export nothing; one cost object per plugin name', async () => {
  assert.equal(pluginCost('cost-test-b'), pluginCost('cost-test-b'));
  pluginCost('cost-test-b').observe(PHASE_INDEX.log, 1);
  const text = await metricsRegistry.getSingleMetricAsString(METRIC_NAME);
  assert.match(text, /plugin="cost-test-b",phase="log"/);
  assert.doesNotMatch(text, /plugin="cost-test-b",phase="access"/);
});

test('two workers\' series merge by sum (prom-client aggregation)', async () => {
  const a = new PluginCost('merge');
  const b = new PluginCost('merge');
  a.observe(PHASE_INDEX.access, 0.01);
  b.observe(PHASE_INDEX.access, 0.01);
  b.observe(PHASE_INDEX.access, 3);
  const json = (c: PluginCost) => {
    const values: any[] = [];
    c.collect(values);
    return [{ name: METRIC_NAME, help: 'h', type: 'histogram', aggregator: 'sum', values }];
  };
  const merged = await AggregatorRegistry.aggregate([json(a), json(b)] as any).metrics();
  assert.match(merged, /_count\{plugin="merge",phase="access"\} 3/);
  assert.match(merged, /_bucket\{le="0.00001",plugin="merge",phase="access"\} 2/);
});
