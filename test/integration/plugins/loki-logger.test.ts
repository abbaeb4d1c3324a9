import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { adminClient } from '../admin/client.js';
import { startGateway, startWithUpstream, stopWithUpstream, eventually, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { startLoopbackServer, type LoopbackServer } from '../../helpers/loopback-server.js';
import { assertDeadSinkCostsNothing } from '../../helpers/logger-checks.js';

// loki-logger against a local server that checks what Loki's push API documents
// (POST /loki/api/v1/push, JSON `{"streams":[{"stream":{label:value},"values":[[ns,line]]}]}`,
// nanosecond timestamps as decimal strings, label names Prometheus-style) and answers as
// Loki does: 204, or 400 with the reason. Not tried against a real Loki (none here).

interface Stream { stream: Record<string, string>; values: [string, string][] }
interface Push { tenant: string | undefined; authorization: string | undefined; streams: Stream[] }

let gw: Gateway;
let up: TestUpstream;
let loki: LoopbackServer;
const pushes: Push[] = [];
const refusals: string[] = [];

/** Why Loki would refuse this push body, or undefined. */
function pushProblem(body: unknown): string | undefined {
  const streams = (body as { streams?: unknown }).streams;
  if (!Array.isArray(streams) || streams.length === 0) return 'no streams';
  for (const s of streams as { stream?: unknown; values?: unknown }[]) {
    if (typeof s.stream !== 'object' || s.stream === null) return 'stream labels missing';
    for (const [k, v] of Object.entries(s.stream)) {
      if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(k) || typeof v !== 'string') return `bad label ${k}`;
    }
    if (!Array.isArray(s.values) || s.values.length === 0) return 'no values';
    for (const v of s.values as unknown[]) {
      if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'string' || !/^\d{19}$/.test(v[0]) || typeof v[1] !== 'string') return 'bad value';
    }
  }
  return undefined;
}

before(async () => {
  loki = await startLoopbackServer((req, res) => {
    let problem: string | undefined;
    let body: unknown;
    try { body = JSON.parse(req.body.toString('utf8')); } catch { problem = 'not JSON'; }
    if (req.method !== 'POST' || req.url !== '/loki/api/v1/push') problem = `${req.method} ${req.url}`;
    else if (req.headers['content-type'] !== 'application/json') problem = `content-type ${req.headers['content-type']}`;
    problem ??= pushProblem(body);
    if (problem !== undefined) {
      refusals.push(problem);
      res.statusCode = 400;
      res.end(problem);
      return;
    }
    pushes.push({ tenant: req.headers['x-scope-orgid'] as string | undefined, authorization: req.headers.authorization, streams: (body as { streams: Stream[] }).streams });
    res.statusCode = 204;
    res.end();
  });
  ({ gw, up } = await startWithUpstream((upstream) => ({
    plugin_metadata: [{ id: 'loki-logger', log_format: { path: '$uri', status: '$status', method: '$request_method' } }],
    routes: [
      { id: 'loki', uri: '/loki/*', upstream, plugins: { 'loki-logger': {
        endpoint_addrs: [loki.url], tenant_id: 'tenant-1', headers: { Authorization: 'Bearer not-to-be-logged' }, batch_max_size: 3,
        log_labels: { job: 'gatehouse', route: '$route_id', method: '$request_method' },
      } } },
      { id: 'down', uri: '/down', upstream, plugins: { 'loki-logger': {
        endpoint_addrs: ['http://127.0.0.1:1'], headers: { Authorization: 'Bearer not-to-be-logged' }, batch_max_size: 1, timeout: 500,
      } } },
    ],
  })));
});

after(async () => {
  await stopWithUpstream(gw, up);
  loki.server.closeAllConnections();
  await new Promise((r) => loki.server.close(r));
});

test('a batch is one push: a stream per label set (variables resolved per request), the metadata\'s log_format as lines', async () => {
  const before = Date.now();
  await get(`${gw.url}/loki/a`);
  await get(`${gw.url}/loki/b`, { method: 'POST', body: 'x' });
  await get(`${gw.url}/loki/c`);
  await eventually(() => pushes.length === 1);
  assert.deepEqual(refusals, []);
  const [push] = pushes;
  assert.equal(push!.tenant, 'tenant-1');
  assert.equal(push!.authorization, 'Bearer not-to-be-logged');
  const byMethod = new Map(push!.streams.map((s) => [s.stream.method, s]));
  assert.deepEqual(byMethod.get('GET')!.stream, { job: 'gatehouse', route: 'loki', method: 'GET' });
  assert.deepEqual(byMethod.get('GET')!.values.map(([, line]) => JSON.parse(line)), [
    { path: '/loki/a', status: 200, method: 'GET', route_id: 'loki', service_id: '' },
    { path: '/loki/c', status: 200, method: 'GET', route_id: 'loki', service_id: '' },
  ]);
  assert.deepEqual(byMethod.get('POST')!.values.map(([, line]) => JSON.parse(line).path), ['/loki/b']);
  for (const s of push!.streams) {
    for (const [ns] of s.values) {
      const ms = Number(BigInt(ns) / 1_000_000n);
      assert.ok(ms >= before - 1000 && ms <= Date.now(), `${ns} is the request's start`);
    }
  }
});

test('a dead Loki costs the client nothing; its credentials never reach the gateway\'s log', async () => {
  await assertDeadSinkCostsNothing(gw, '/down', 'loki-logger', 'loki logger');
  assert.doesNotMatch(gw.output(), /not-to-be-logged/);
});

test('an endpoint that is no URL (a port out of range passes the schema\'s pattern) is refused naming the field', async () => {
  // the gateway above reads its routes from a file: the Admin API that writes them needs a store
  const admin = await startGateway({ store: 'sqlite', workers: 1 });
  try {
    const r = await adminClient(admin)('PUT', '/routes/bad-loki', {
      uri: '/bad-loki', upstream: { nodes: { '127.0.0.1:1': 1 } }, plugins: { 'loki-logger': { endpoint_addrs: ['http://127.0.0.1:1', 'http://h:99999'] } },
    });
    assert.equal(r.status, 400);
    assert.match(r.body.error_msg, /endpoint_addrs\[1\]: "http:\/\/h:99999" is not a URL/);
  } finally {
    await admin.stop();
  }
});
