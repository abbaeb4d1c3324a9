import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatPluginCost, pluginCostFrom } from './plugin-cost.js';

const EXPOSITION = `# HELP gatehouse_plugin_phase_duration_seconds Time spent in each plugin handler per phase
# TYPE gatehouse_plugin_phase_duration_seconds histogram
gatehouse_plugin_phase_duration_seconds_bucket{le="0.00001",plugin="key-auth",phase="rewrite"} 800
gatehouse_plugin_phase_duration_seconds_sum{plugin="key-auth",phase="rewrite"} 0.0008
gatehouse_plugin_phase_duration_seconds_count{plugin="key-auth",phase="rewrite"} 1000
gatehouse_plugin_phase_duration_seconds_sum{plugin="cors",phase="preflight"} 0.0002
gatehouse_plugin_phase_duration_seconds_count{plugin="cors",phase="preflight"} 1000
gatehouse_plugin_phase_duration_seconds_sum{plugin="cors",phase="header_filter"} 0.0009
gatehouse_plugin_phase_duration_seconds_count{plugin="cors",phase="header_filter"} 800
apisix_http_status{code="200",route="r1",matched_uri="/*",matched_host="",service="",consumer="bench",node="127.0.0.1"} 900
apisix_http_status{code="401",route="r1",matched_uri="/*",matched_host="",service="",consumer="",node=""} 100
apisix_http_latency_count{type="request",route="r1",service="",consumer="bench",node="127.0.0.1"} 900
`;

test('per-plugin cost: every phase\'s time over the requests the prometheus plugin counted, µs per call by phase', () => {
  const r = pluginCostFrom(EXPOSITION);
  assert.equal(r.requests, 1000);
  assert.deepEqual(r.rows.map((x) => x.plugin), ['cors', 'key-auth']);
  const cors = r.rows[0]!;
  assert.ok(Math.abs(cors.usPerRequest - 1.1) < 1e-9);
  assert.ok(Math.abs(cors.phases.header_filter!.usPerCall - 1.125) < 1e-9);
  assert.equal(cors.phases.header_filter!.calls, 800);
  assert.ok(Math.abs(r.totalUsPerRequest - 1.9) < 1e-9);
  const text = formatPluginCost(r);
  assert.match(text, /cors\s+1\.10\s+preflight 0\.20, header_filter 1\.13/);
  assert.match(text, /all handlers\s+1\.90/);
});
