// GET /apisix/admin/metrics/summary through the real gateway: real traffic over two
// workers shows up per route (status mix, latency quantiles) and per plugin (cost),
// next to the node's health; viewers read it; it works with the Prometheus export off.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startGateway, eventually, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { adminClient, type AdminCall } from './client.js';
import type { MetricsSummary } from '../../../src/admin-api/metrics-summary.js';

const ADMIN = 'summary-admin-key-0123456789';
const VIEWER = 'summary-viewer-key-0123456789';
const keys = [{ name: 'ops', key: ADMIN, role: 'admin' as const }, { name: 'dash', key: VIEWER, role: 'viewer' as const }];

/** One request on a fresh connection, so the primary's round-robin spreads them over the workers. */
function fresh(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject);
  });
}

async function summaryOf(call: AdminCall, key = VIEWER): Promise<MetricsSummary> {
  const r = await call<MetricsSummary>('GET', '/metrics/summary', undefined, { key });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

/** Polls the summary (it is cached for a second) until `ok` holds, at most ~6 s. */
async function summaryWhen(call: AdminCall, ok: (s: MetricsSummary) => boolean): Promise<MetricsSummary> {
  let last: MetricsSummary | undefined;
  try {
    await eventually(async () => ok(last = await summaryOf(call)), 60, 100);
  } catch {
    assert.fail(`the summary never showed the traffic: ${JSON.stringify(last)}`);
  }
  return last!;
}

describe('metrics summary', () => {
  let gw: Gateway;
  let up: TestUpstream;
  let call: AdminCall;
  const statusTraffic: [number, number][] = [[200, 10], [302, 2], [404, 3], [503, 2]];
  const total = statusTraffic.reduce((n, [, k]) => n + k, 0);

  before(async () => {
    up = await startUpstream('a');
    const upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
    gw = await startGateway({
      workers: 2, adminKeys: keys,
      // every request timed, so plugin call counts are exact
      prometheus: { plugin_cost_sample: 1 },
      config: {
        global_rules: [{ id: 'g', plugins: { prometheus: {} } }],
        consumers: [{ username: 'jack', plugins: { 'key-auth': { key: 'k-jack' } } }],
        routes: [
          { id: 'mixed', uri: '/status/*', upstream, plugins: { 'request-id': {} } },
          { id: 'private', uri: '/private', upstream, plugins: { 'key-auth': {} } },
        ],
      },
    });
    call = adminClient(gw);
    for (const [status, times] of statusTraffic) {
      for (let i = 0; i < times; i++) assert.equal(await fresh(`${gw.url}/status/${status}`), status);
    }
    for (let i = 0; i < 4; i++) assert.equal(await fresh(`${gw.url}/private`), 401);
  });
  after(async () => {
    await gw?.stop();
    await up?.close();
  });

  test("a route's requests by status class and its latency quantiles, after real traffic", async () => {
    const s = await summaryWhen(call, (x) => (x.routes.find((r) => r.route === 'mixed')?.requests.total ?? 0) >= total
      && (x.routes.find((r) => r.route === 'private')?.requests.total ?? 0) >= 4);
    const mixed = s.routes.find((r) => r.route === 'mixed')!;
    assert.deepEqual(mixed.requests, { total, '1xx': 0, '2xx': 10, '3xx': 2, '4xx': 3, '5xx': 2 });
    assert.equal(s.histograms.route_latency_ms.metric, 'apisix_http_latency{type="request"}');
    assert.deepEqual(s.histograms.route_latency_ms.bounds.slice(0, 3), [1, 2, 5]);
    const lat = mixed.latency_ms;
    assert.equal(lat.count, total);
    assert.equal(lat.buckets.length, s.histograms.route_latency_ms.bounds.length + 1);
    assert.equal(lat.buckets.at(-1), total);
    assert.ok(lat.p50 !== null && lat.p99 !== null && lat.mean !== null, JSON.stringify(lat));
    assert.ok(lat.p50 > 0 && lat.p50 <= lat.p99, JSON.stringify(lat));
    assert.deepEqual(s.routes.find((r) => r.route === 'private')!.requests, { total: 4, '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 4, '5xx': 0 });
  });

  test('the same counts as the Prometheus export serves', async () => {
    const text = (await get(gw.metricsUrl)).body;
    const exported = text.split('\n').filter((l) => l.startsWith('apisix_http_status{') && l.includes('route="mixed"'))
      .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    assert.equal(exported, total);
    const s = await summaryOf(call);
    assert.equal(s.routes.find((r) => r.route === 'mixed')!.requests.total, exported);
  });

  test('per-plugin cost per phase: calls, mean and p99 in microseconds', async () => {
    const s = await summaryWhen(call, (x) => x.plugins.some((p) => p.plugin === 'request-id' && p.phase === 'rewrite' && p.calls >= total));
    assert.equal(s.histograms.plugin_cost_us.metric, 'gatehouse_plugin_phase_duration_seconds');
    const rid = s.plugins.find((p) => p.plugin === 'request-id' && p.phase === 'rewrite')!;
    assert.equal(rid.calls, total);
    assert.ok(rid.mean_us !== null && rid.mean_us > 0 && rid.p99_us !== null && rid.p99_us > 0, JSON.stringify(rid));
    assert.equal(s.plugins.find((p) => p.plugin === 'request-id' && p.phase === 'header_filter')?.calls, total);
    assert.equal(s.plugins.find((p) => p.plugin === 'key-auth' && p.phase === 'rewrite')?.calls, 4);
  });

  test("the node's health: every worker with its pid and applied revision, the store revision, no cluster", async () => {
    const s = await summaryOf(call);
    assert.equal(s.counters, 'cumulative');
    assert.ok(Math.abs(Date.now() - s.time) < 5_000, `time ${s.time}`);
    assert.equal(s.cluster, null);
    assert.equal(typeof s.node.revision, 'number');
    assert.equal(s.node.ready, true, JSON.stringify(s.node));
    assert.deepEqual(s.node.workers.map((w) => w.index), [0, 1]);
    for (const w of s.node.workers) {
      assert.equal(typeof w.pid, 'number');
      assert.equal(w.listening, true);
      assert.equal(w.revision, s.node.revision);
    }
  });

  test('counters are cumulative: a later summary adds the new requests to the old', async () => {
    const before = await summaryOf(call);
    const was = before.routes.find((r) => r.route === 'mixed')!.requests;
    for (let i = 0; i < 3; i++) assert.equal(await fresh(`${gw.url}/status/200`), 200);
    const after = await summaryWhen(call, (x) => x.time > before.time && x.routes.find((r) => r.route === 'mixed')!.requests.total >= was.total + 3);
    const now = after.routes.find((r) => r.route === 'mixed')!.requests;
    assert.deepEqual([now.total, now['2xx'], now['4xx']], [was.total + 3, was['2xx'] + 3, was['4xx']]);
  });

  test('viewer and admin keys read it; no key is a 401; writes are refused', async () => {
    assert.equal((await call('GET', '/metrics/summary', undefined, { key: ADMIN })).status, 200);
    assert.equal((await call('GET', '/metrics/summary', undefined, { key: VIEWER })).status, 200);
    const none = await call('GET', '/metrics/summary', undefined, { key: null });
    assert.equal(none.status, 401);
    assert.equal(none.body.error_msg, 'failed to check token');
    assert.equal((await call('PUT', '/metrics/summary', {}, { key: ADMIN })).status, 405);
    assert.equal((await call('GET', '/metrics/other', undefined, { key: ADMIN })).status, 404);
  });
});

describe('metrics summary with the Prometheus export disabled', () => {
  let gw: Gateway;
  let up: TestUpstream;

  before(async () => {
    up = await startUpstream('b');
    gw = await startGateway({
      adminKeys: keys, prometheus: { enabled: false },
      config: { routes: [{ id: 'r', uri: '/status/*', upstream: { nodes: { [`127.0.0.1:${up.port}`]: 1 } }, plugins: { prometheus: {} } }] },
    });
  });
  after(async () => {
    await gw?.stop();
    await up?.close();
  });

  test('the workers are still asked for their metrics', async () => {
    for (let i = 0; i < 2; i++) assert.equal(await fresh(`${gw.url}/status/201`), 201);
    const s = await summaryWhen(adminClient(gw), (x) => x.routes.some((r) => r.route === 'r' && r.requests['2xx'] === 2));
    assert.equal(s.node.workers.length, 1);
  });
});
