import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import plugin, { nanoseconds, pushBody } from './loki-logger.js';
import { secretPaths } from '../plugin-runtime/secret-fields.js';
import { createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';
import { startLoopbackServer, type LoopbackServer, type ReceivedRequest } from '../../test/helpers/loopback-server.js';
import { until } from '../../test/helpers/log-servers.js';

interface Push { streams: { stream: Record<string, string>; values: [string, string][] }[] }

const pushes: { server: string; req: ReceivedRequest }[] = [];
let failNext = 0;
let a: LoopbackServer;
let b: LoopbackServer;

function collector(name: string): (req: ReceivedRequest, res: ServerResponse) => void {
  return (req, res) => {
    pushes.push({ server: name, req });
    res.statusCode = failNext > 0 ? (failNext--, 500) : 204;
    res.end();
  };
}

before(async () => {
  a = await startLoopbackServer(collector('a'));
  b = await startLoopbackServer(collector('b'));
});

after(async () => {
  await plugin.destroy!();
  for (const s of [a, b]) {
    s.server.closeAllConnections();
    await new Promise((r) => s.server.close(r));
  }
});

test('declares statistics 414 with APISIX\'s fields and defaults', () => {
  assert.equal(plugin.priority, 414);
  assert.match(schemaError(plugin.schema, {})!, /endpoint_addrs/);
  assert.match(schemaError(plugin.schema, { endpoint_addrs: [] })!, /endpoint_addrs/);
  assert.match(schemaError(plugin.schema, { endpoint_addrs: ['http://l'], timeout: 60001 })!, /timeout/);
  const p = prepareWith(plugin, { endpoint_addrs: ['http://127.0.0.1:3100'] });
  assert.deepEqual(
    { uri: p.conf.endpoint_uri, tenant: p.conf.tenant_id, labels: p.conf.log_labels, verify: p.conf.ssl_verify, timeout: p.conf.timeout,
      keepalive: p.conf.keepalive, kt: p.conf.keepalive_timeout, kp: p.conf.keepalive_pool },
    { uri: '/loki/api/v1/push', tenant: 'fake', labels: { job: 'apisix' }, verify: false, timeout: 3000, keepalive: true, kt: 60000, kp: 5 });
  // APISIX's encrypt_fields: masked for viewer keys
  assert.deepEqual(secretPaths(plugin.schema), [['headers']]);
});

test('refused when written: a label name Loki refuses, an unknown variable, headers tenant_id sets, another scheme', () => {
  const base = { endpoint_addrs: ['http://127.0.0.1:3100'] };
  assert.throws(() => prepareWith(plugin, { ...base, log_labels: { 'bad-name': 'x' } }), /log_labels: "bad-name" is not a Loki label name/);
  assert.throws(() => prepareWith(plugin, { ...base, log_labels: { host: '$hots' } }), /log_labels.host: unknown variable '\$hots'/);
  assert.throws(() => prepareWith(plugin, { ...base, headers: { 'X-Scope-OrgID': 't' } }), /headers.X-Scope-OrgID: set from tenant_id/);
  assert.throws(() => prepareWith(plugin, { ...base, headers: { 'X-Bad': 'a\nb' } }));
  assert.throws(() => prepareWith(plugin, { endpoint_addrs: ['ftp://127.0.0.1:3100'] }), /endpoint_addrs\[0\]: scheme "ftp"/);
});

test('push body: one stream per label set, values in order; nanosecond strings', () => {
  const body = JSON.parse(pushBody([
    { entry: { n: 1 }, labels: { job: 'x', host: 'a' }, ts: '1000' },
    { entry: { n: 2 }, labels: { host: 'b', job: 'x' }, ts: '2000' },
    { entry: { n: 3 }, labels: { host: 'a', job: 'x' }, ts: '3000' },
  ])) as Push;
  assert.deepEqual(body, { streams: [
    { stream: { job: 'x', host: 'a' }, values: [['1000', '{"n":1}'], ['3000', '{"n":3}']] },
    { stream: { host: 'b', job: 'x' }, values: [['2000', '{"n":2}']] },
  ] });
  assert.equal(nanoseconds(1714550400123.456), '1714550400123456000');
});

test('a batch reaches the push API with the tenant, headers and per-request labels; endpoints taken in turn', async () => {
  pushes.length = 0;
  const p = prepareWith(plugin, {
    endpoint_addrs: [a.url, `${b.url}/`], tenant_id: 'team-a', headers: { Authorization: 'Bearer s3cret' }, batch_max_size: 2,
    log_labels: { job: 'gw', client: '$remote_addr', path: 'p-$uri' }, log_format: { u: '$uri' },
  });
  const started = Date.now();
  plugin.log!(p, createTestContext({ uri: '/one', remoteAddr: '10.0.0.1' }));
  plugin.log!(p, createTestContext({ uri: '/two', remoteAddr: '10.0.0.1' }));
  await until(() => pushes.length === 1);
  plugin.log!(p, createTestContext({ uri: '/three', remoteAddr: '10.0.0.2' }));
  plugin.log!(p, createTestContext({ uri: '/three', remoteAddr: '10.0.0.2' }));
  await until(() => pushes.length === 2);
  assert.deepEqual(pushes.map((x) => [x.server, x.req.method, x.req.url]), [['a', 'POST', '/loki/api/v1/push'], ['b', 'POST', '/loki/api/v1/push']]);
  const { headers } = pushes[0]!.req;
  assert.equal(headers['x-scope-orgid'], 'team-a');
  assert.equal(headers['content-type'], 'application/json');
  assert.equal(headers.authorization, 'Bearer s3cret');
  const first = JSON.parse(pushes[0]!.req.body.toString()) as Push;
  assert.deepEqual(first.streams.map((s) => s.stream), [{ job: 'gw', client: '10.0.0.1', path: 'p-/one' }, { job: 'gw', client: '10.0.0.1', path: 'p-/two' }]);
  // a custom entry gets route_id too (APISIX's "no-matched" without a route)
  assert.deepEqual(first.streams.map((s) => JSON.parse(s.values[0]![1])), [{ u: '/one', route_id: 'no-matched' }, { u: '/two', route_id: 'no-matched' }]);
  for (const s of first.streams) {
    const ns = BigInt(s.values[0]![0]);
    assert.ok(ns >= BigInt(started - 1000) * 1_000_000n && ns <= BigInt(Date.now()) * 1_000_000n, String(ns));
  }
  const second = JSON.parse(pushes[1]!.req.body.toString()) as Push;
  assert.equal(second.streams.length, 1, 'same labels, one stream');
  assert.equal(second.streams[0]!.values.length, 2);
});

test('the default entry: route_id "no-matched" without a route; a refused push is retried on the next endpoint', async () => {
  pushes.length = 0;
  failNext = 1;
  const p = prepareWith(plugin, { endpoint_addrs: [a.url, b.url], batch_max_size: 1, max_retry_count: 1, retry_delay: 0 });
  plugin.log!(p, createTestContext({ uri: '/lost' }));
  await until(() => p.processor!.sent === 1);
  assert.deepEqual(pushes.map((x) => x.server), ['a', 'b']);
  const push = JSON.parse(pushes[1]!.req.body.toString()) as Push;
  assert.deepEqual(push.streams[0]!.stream, { job: 'apisix' });
  const entry = JSON.parse(push.streams[0]!.values[0]![1]) as { route_id: string; request: { uri: string } };
  assert.equal(entry.route_id, 'no-matched');
  assert.equal(entry.request.uri, '/lost');
});

test('endpoint_uri: the push goes to that path (a leading slash added when missing)', async () => {
  pushes.length = 0;
  const p = prepareWith(plugin, { endpoint_addrs: [a.url], endpoint_uri: 'custom/api/push', batch_max_size: 1, log_format: { u: '$uri' } });
  plugin.log!(p, createTestContext({ uri: '/custom' }));
  await until(() => pushes.length === 1);
  assert.deepEqual([pushes[0]!.req.method, pushes[0]!.req.url], ['POST', '/custom/api/push']);
  assert.equal(JSON.parse((JSON.parse(pushes[0]!.req.body.toString()) as Push).streams[0]!.values[0]![1]).u, '/custom');
});
