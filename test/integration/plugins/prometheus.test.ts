import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

// Two workers record; the primary's export merges them. Every request goes on its own
// connection, so the primary's round-robin accept spreads them over both workers: the
// totals below only add up when both workers' registries are merged.

let gw: Gateway;
let up: TestUpstream;
const N = 20;

/** One request on a fresh connection. */
function fresh(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject);
  });
}

async function scrape(path = '/apisix/prometheus/metrics'): Promise<string> {
  const r = await get(gw.metricsUrl.replace('/apisix/prometheus/metrics', path));
  assert.equal(r.status, 200, r.body);
  return r.body;
}

/** The value of the first sample line matching `re`, 0 when there is none. */
function value(text: string, re: RegExp): number {
  const line = text.split('\n').find((l) => re.test(l));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

before(async () => {
  up = await startUpstream('a');
  const upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
  gw = await startGateway({
    workers: 2,
    // every request timed, so the per-plugin cost counts below are exact
    prometheus: { plugin_cost_sample: 1 },
    config: {
      consumers: [{ username: 'jack', plugins: { 'key-auth': { key: 'k-jack' } } }],
      // prefer_route: the global instance gives way on routes that have their own
      global_rules: [{ id: 'g', plugins: { prometheus: {} } }],
      services: [{ id: 'svc1', name: 'shop', upstream }],
      routes: [
        { id: 'r1', uri: '/hello/*', host: 'api.test', service_id: 'svc1', plugins: { prometheus: {}, 'request-id': {} } },
        { id: 'r2', name: 'named', uri: '/named', upstream, plugins: { prometheus: { prefer_name: true }, 'key-auth': {} } },
        { id: 'r3', uri: '/plain', upstream },
      ],
    },
  });
});

after(async () => {
  await gw?.stop();
  await up?.close();
});

test('requests over two workers are counted once each, merged, with APISIX labels', async () => {
  for (let i = 0; i < N; i++) assert.equal(await fresh(`${gw.url}/hello/x`, { host: 'api.test' }), 200);
  for (let i = 0; i < 3; i++) assert.equal(await fresh(`${gw.url}/named`, { apikey: 'k-jack' }), 200);
  assert.equal(await fresh(`${gw.url}/named`), 401);
  assert.equal(await fresh(`${gw.url}/plain`), 200);
  assert.equal(await fresh(`${gw.url}/nothing-here`), 404);

  const text = await scrape();
  const node = '127.0.0.1';
  assert.equal(value(text, new RegExp(`^apisix_http_status\\{code="200",route="r1",matched_uri="/hello/\\*",matched_host="api.test",service="svc1",consumer="",node="${node}"\\}`)), N);
  assert.equal(value(text, /^apisix_http_status\{code="200",route="named",matched_uri="\/named",matched_host="",service="",consumer="jack",node="127.0.0.1"\}/), 3);
  assert.equal(value(text, /^apisix_http_status\{code="401",route="named",.*consumer="",node=""\}/), 1);
  // a route without its own prometheus is counted by the global rule; so is an unmatched request
  assert.equal(value(text, /^apisix_http_status\{code="200",route="r3",/), 1);
  assert.equal(value(text, /^apisix_http_status\{code="404",route="",matched_uri="",matched_host="",service="",consumer="",node=""\}/), 1);

  for (const type of ['request', 'upstream', 'apisix']) {
    assert.equal(value(text, new RegExp(`^apisix_http_latency_count\\{type="${type}",route="r1",service="svc1",consumer="",node="${node}"\\}`)), N, type);
  }
  assert.ok(value(text, /^apisix_bandwidth\{type="ingress",route="r1",service="svc1",consumer="",node="127.0.0.1"\}/) > N * 30);
  assert.ok(value(text, /^apisix_bandwidth\{type="egress",route="r1",service="svc1",consumer="",node="127.0.0.1"\}/) > N * 50);

  // both workers took connections, and the connection gauges add them up
  assert.ok(value(text, /^apisix_nginx_http_current_connections\{state="accepted"\}/) >= N + 6);
  assert.ok(value(text, /^apisix_http_requests_total /) >= N + 6);
  assert.match(text, /^apisix_node_info\{hostname="[^"]+",version="[^"]+"\} 1$/m);
});

test('per-plugin cost: one histogram series per plugin and phase it ran in', async () => {
  const text = await scrape('/metrics');
  assert.match(text, /# TYPE gatehouse_plugin_phase_duration_seconds histogram/);
  assert.equal(value(text, /^gatehouse_plugin_phase_duration_seconds_count\{plugin="request-id",phase="rewrite"\}/), N);
  assert.equal(value(text, /^gatehouse_plugin_phase_duration_seconds_count\{plugin="request-id",phase="header_filter"\}/), N);
  assert.equal(value(text, /^gatehouse_plugin_phase_duration_seconds_count\{plugin="key-auth",phase="rewrite"\}/), 4);
  assert.ok(value(text, /^gatehouse_plugin_phase_duration_seconds_count\{plugin="prometheus",phase="log"\}/) >= N + 6);
  assert.match(text, /^gatehouse_plugin_phase_duration_seconds_bucket\{le="\+Inf",plugin="request-id",phase="rewrite"\} 20$/m);
  assert.ok(value(text, /^gatehouse_plugin_phase_duration_seconds_sum\{plugin="request-id",phase="rewrite"\}/) > 0);
});

test('the export answers 404 elsewhere and is not the data plane', async () => {
  const r = await get(gw.metricsUrl.replace('/apisix/prometheus/metrics', '/other'));
  assert.equal(r.status, 404);
  assert.notEqual(new URL(gw.metricsUrl).port, String(gw.httpPort));
});
