import { test } from 'node:test';
import assert from 'node:assert/strict';
import plugin from './prometheus.js';
import { createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';
import { metricsRegistry } from '../observability/metrics.js';

async function metric(name: string): Promise<string> {
  return metricsRegistry.getSingleMetricAsString(name);
}

const facts = { balancer_ip: '10.0.0.7', upstream_response_time: 0.004, request_length: 120, bytes_sent: 300, matched_uri: '/hello/*', matched_host: '' };

test('declares APISIX\'s place: statistics 500, prefer_route, prefer_name default false', () => {
  assert.equal(plugin.stage, 'statistics');
  assert.equal(plugin.priority, 500);
  assert.equal(plugin.runPolicy, 'prefer_route');
  assert.equal(prepareWith(plugin, {}).preferName, false);
  assert.match(schemaError(plugin.schema, { prefer_name: 'yes' })!, /prefer_name/);
  assert.match(schemaError(plugin.metadataSchema, { disabled_labels: ['code'] })!, /disabled_labels/);
});

test('log records status, latency (request, upstream, apisix) and bandwidth with APISIX labels', async () => {
  const p = prepareWith(plugin, {});
  const ctx = createTestContext({ routeId: 'r-unit', serviceId: 's1', status: 201, vars: facts,
    consumer: { username: 'jack', plugins: {} } });
  plugin.log!(p, ctx);
  const status = await metric('apisix_http_status');
  assert.match(status, /apisix_http_status\{code="201",route="r-unit",matched_uri="\/hello\/\*",matched_host="",service="s1",consumer="jack",node="10.0.0.7"\} 1/);
  const latency = await metric('apisix_http_latency');
  for (const type of ['request', 'upstream', 'apisix']) {
    assert.match(latency, new RegExp(`apisix_http_latency_count\\{type="${type}",route="r-unit",service="s1",consumer="jack",node="10.0.0.7"\\} 1`));
  }
  assert.match(latency, /apisix_http_latency_bucket\{le="5",type="upstream",route="r-unit",service="s1",consumer="jack",node="10.0.0.7"\} 1/);
  assert.match(latency, /apisix_http_latency_bucket\{le="2",type="upstream",route="r-unit",service="s1",consumer="jack",node="10.0.0.7"\} 0/);
  const bw = await metric('apisix_bandwidth');
  assert.match(bw, /apisix_bandwidth\{type="ingress",route="r-unit",service="s1",consumer="jack",node="10.0.0.7"\} 120/);
  assert.match(bw, /apisix_bandwidth\{type="egress",route="r-unit",service="s1",consumer="jack",node="10.0.0.7"\} 300/);
});

test('without an upstream answer: no upstream latency, apisix latency is the whole request', async () => {
  const p = prepareWith(plugin, {});
  plugin.log!(p, createTestContext({ routeId: 'r-local', status: 401 }));
  const latency = await metric('apisix_http_latency');
  assert.doesNotMatch(latency, /type="upstream",route="r-local"/);
  assert.match(latency, /apisix_http_latency_count\{type="apisix",route="r-local",service="",consumer="",node=""\} 1/);
});

test('prefer_name uses route and service names when they have one', async () => {
  const p = prepareWith(plugin, { prefer_name: true });
  plugin.log!(p, createTestContext({ routeId: 'r-id', serviceId: 's-id', vars: { route_name: 'orders', service_name: 'shop' } }));
  assert.match(await metric('apisix_http_status'), /code="200",route="orders",matched_uri="",matched_host="",service="shop"/);
});

test('plugin metadata disabled_labels blanks those labels', async () => {
  const p = prepareWith(plugin, {}, { metadata: { disabled_labels: ['node', 'consumer', 'matched_uri'] } });
  plugin.log!(p, createTestContext({ routeId: 'r-blank', vars: facts, consumer: { username: 'rose', plugins: {} } }));
  assert.match(await metric('apisix_http_status'), /code="200",route="r-blank",matched_uri="",matched_host="",service="",consumer="",node=""/);
});

test('one instance counting changing label sets keeps each in its own series (status, consumer, node, route)', async () => {
  const p = prepareWith(plugin, {});
  const log = (status: number, consumer: string | undefined, node: string, routeId = 'r-mix'): void => {
    plugin.log!(p, createTestContext({ routeId, status, vars: { ...facts, balancer_ip: node },
      consumer: consumer === undefined ? undefined : { username: consumer, plugins: {} } }));
  };
  log(200, 'ann', '10.0.0.1');
  log(200, 'ann', '10.0.0.1');
  log(404, 'ann', '10.0.0.1');
  log(200, 'bob', '10.0.0.1');
  log(200, 'ann', '10.0.0.2');
  log(200, 'ann', '10.0.0.1', 'r-mix-2');
  log(200, 'ann', '10.0.0.1');
  const text = await metric('apisix_http_status');
  const count = (code: number, route: string, consumer: string, node: string): string | undefined =>
    new RegExp(`apisix_http_status\\{code="${code}",route="${route}",matched_uri="/hello/\\*",matched_host="",service="",consumer="${consumer}",node="${node}"\\} (\\d+)`)
      .exec(text)?.[1];
  assert.equal(count(200, 'r-mix', 'ann', '10.0.0.1'), '3');
  assert.equal(count(404, 'r-mix', 'ann', '10.0.0.1'), '1');
  assert.equal(count(200, 'r-mix', 'bob', '10.0.0.1'), '1');
  assert.equal(count(200, 'r-mix', 'ann', '10.0.0.2'), '1');
  assert.equal(count(200, 'r-mix-2', 'ann', '10.0.0.1'), '1');
  assert.match(await metric('apisix_http_latency'), /apisix_http_latency_count\{type="request",route="r-mix",service="",consumer="ann",node="10.0.0.1"\} 4/);
});
