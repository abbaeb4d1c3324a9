import { test } from 'node:test';
import assert from 'node:assert/strict';
import { digestMetrics, quantile } from './metrics-summary.js';

test('quantile interpolates within the bucket the rank falls in, as histogram_quantile', () => {
  // 10 observations in (0,1], 10 in (1,2], none above
  assert.equal(quantile([1, 2, 5], [10, 20, 20, 20], 0.5), 1);
  assert.equal(quantile([1, 2, 5], [10, 20, 20, 20], 0.25), 0.5);
  assert.equal(quantile([1, 2, 5], [10, 20, 20, 20], 0.75), 1.5);
  // a rank in +Inf gives the highest finite bound
  assert.equal(quantile([1, 2, 5], [0, 0, 0, 4], 0.99), 5);
  assert.equal(quantile([1, 2, 5], [0, 0, 0, 0], 0.5), null);
});

const latencyLines = (route: string, node: string, counts: number[], sum: number): string[] => {
  const les = ['1', '2', '5', '+Inf'];
  return [
    ...les.map((le, i) => `apisix_http_latency_bucket{le="${le}",type="request",route="${route}",service="",consumer="",node="${node}"} ${counts[i]}`),
    `apisix_http_latency_sum{type="request",route="${route}",service="",consumer="",node="${node}"} ${sum}`,
    `apisix_http_latency_count{type="request",route="${route}",service="",consumer="",node="${node}"} ${counts[3]}`,
    // the upstream part of the same requests is not the request latency
    `apisix_http_latency_bucket{le="+Inf",type="upstream",route="${route}",service="",consumer="",node="${node}"} 999`,
  ];
};

test('routes: requests by status class summed over the other labels; latency of type "request" merged across nodes', () => {
  const text = [
    'apisix_http_status{code="200",route="r1",matched_uri="/a",matched_host="",service="",consumer="",node="10.0.0.1"} 6',
    'apisix_http_status{code="201",route="r1",matched_uri="/a",matched_host="",service="",consumer="",node="10.0.0.2"} 2',
    'apisix_http_status{code="404",route="r1",matched_uri="/a",matched_host="",service="",consumer="",node="10.0.0.1"} 1',
    'apisix_http_status{code="502",route="r1",matched_uri="/a",matched_host="",service="",consumer="",node=""} 1',
    'apisix_http_status{code="404",route="",matched_uri="",matched_host="",service="",consumer="",node=""} 3',
    ...latencyLines('r1', '10.0.0.1', [4, 6, 7, 7], 14),
    ...latencyLines('r1', '10.0.0.2', [0, 2, 3, 3], 9),
  ].join('\n');
  const d = digestMetrics(text);
  assert.deepEqual(d.histograms.route_latency_ms, { metric: 'apisix_http_latency{type="request"}', bounds: [1, 2, 5] });
  assert.deepEqual(d.routes.map((r) => r.route), ['', 'r1']);
  const r1 = d.routes[1]!;
  assert.deepEqual(r1.requests, { total: 10, '1xx': 0, '2xx': 8, '3xx': 0, '4xx': 1, '5xx': 1 });
  assert.deepEqual([r1.latency_ms.count, r1.latency_ms.sum, r1.latency_ms.buckets], [10, 23, [4, 8, 10, 10]]);
  assert.equal(r1.latency_ms.mean, 2.3);
  assert.equal(r1.latency_ms.p50, 1.25);
  assert.equal(r1.latency_ms.p99, 4.85);
  // a route counted without latency samples still appears, with empty latency
  assert.deepEqual([d.routes[0]!.requests.total, d.routes[0]!.latency_ms.p50, d.routes[0]!.latency_ms.buckets], [3, null, [0, 0, 0, 0]]);
});

test('plugins: calls, mean and p99 in microseconds per plugin and phase', () => {
  const les = ['1e-05', '0.000025', '0.00005', '+Inf'];
  const series = (plugin: string, phase: string, counts: number[], sum: number): string[] => [
    ...les.map((le, i) => `gatehouse_plugin_phase_duration_seconds_bucket{le="${le}",plugin="${plugin}",phase="${phase}"} ${counts[i]}`),
    `gatehouse_plugin_phase_duration_seconds_sum{plugin="${plugin}",phase="${phase}"} ${sum}`,
    `gatehouse_plugin_phase_duration_seconds_count{plugin="${plugin}",phase="${phase}"} ${counts[3]}`,
  ];
  const d = digestMetrics([...series('key-auth', 'rewrite', [8, 16, 16, 16], 0.0002), ...series('cors', 'header_filter', [0, 0, 4, 4], 0.00016)].join('\n'));
  assert.deepEqual(d.histograms.plugin_cost_us, { metric: 'gatehouse_plugin_phase_duration_seconds', bounds: [10, 25, 50] });
  assert.deepEqual(d.plugins.map((p) => [p.plugin, p.phase, p.calls, p.mean_us, p.p99_us]), [
    ['cors', 'header_filter', 4, 40, 49.75],
    ['key-auth', 'rewrite', 16, 12.5, 24.7],
  ]);
});

test('no samples at all: empty lists, not an error', () => {
  const d = digestMetrics('');
  assert.deepEqual([d.routes, d.plugins, d.histograms.route_latency_ms.bounds], [[], [], []]);
});
