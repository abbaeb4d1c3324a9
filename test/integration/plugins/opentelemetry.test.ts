import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { startGateway, eventually, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { otlpSpans, startTraceCollector, type DecodedSpan, type TraceCollector } from '../../helpers/trace-collectors.js';

// opentelemetry against a local OTLP/HTTP receiver: what the gateway sent, decoded with the
// official proto definitions (test/helpers/trace-collectors.ts), and what the upstream got.

let gw: Gateway;
let up: TestUpstream;
let collector: TraceCollector;

const INCOMING_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const INCOMING_SPAN = '00f067aa0ba902b7';

function metadata(address: string): Record<string, unknown> {
  return {
    id: 'opentelemetry',
    resource: { 'service.name': 'edge-gw', 'deployment.environment': 'test', replicas: 2 },
    collector: { address, request_timeout: 1, request_headers: { Authorization: 'Bearer collector-token' } },
    batch_span_processor: { inactive_timeout: 0.05, batch_timeout: 0.2, max_export_batch_size: 10, max_queue_size: 40 },
    set_ngx_var: true,
  };
}

function config(address: string): Record<string, unknown> {
  const upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
  const otel = (sampler: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ opentelemetry: { sampler, ...extra } });
  return {
    plugin_metadata: [metadata(address)],
    services: [{ id: 'svc', name: 'shop', upstream }],
    routes: [
      {
        id: 'on', name: 'always', uri: '/on/*', service_id: 'svc',
        plugins: {
          ...otel({ name: 'always_on' }, { additional_attributes: ['http_x_tenant', 'upstream_status'], additional_header_prefix_attributes: ['X-Pre-*', 'x-exact'] }),
          'http-logger': {
            uri: `${collector.url}/logs`, batch_max_size: 1,
            log_format: { traceparent: '$opentelemetry_context_traceparent', trace: '$opentelemetry_trace_id', span: '$opentelemetry_span_id' },
          },
        },
      },
      { id: 'off', uri: '/off', upstream, plugins: otel({ name: 'always_off' }) },
      { id: 'parent', uri: '/parent', upstream, plugins: otel({ name: 'parent_base', options: { root: { name: 'always_off' } } }) },
      { id: 'ratio', uri: '/ratio', upstream, plugins: otel({ name: 'trace_id_ratio', options: { fraction: 0.5 } }) },
      { id: 'failing', uri: '/status/*', upstream, plugins: otel({ name: 'always_on' }) },
      // a node that refuses connections, weighted to be picked first: the retry goes to the live one
      {
        id: 'retried', uri: '/retried', plugins: otel({ name: 'always_on' }),
        upstream: { nodes: { '127.0.0.1:1': 100, [`127.0.0.1:${up.port}`]: 1 }, retries: 1 },
      },
      { id: 'refused', uri: '/refused', plugins: { ...otel({ name: 'always_on' }), 'key-auth': {} }, upstream },
    ],
  };
}

before(async () => {
  collector = await startTraceCollector();
  up = await startUpstream('a');
  gw = await startGateway({ config: config(collector.address) });
});

after(async () => {
  await gw?.stop();
  await up?.close();
  await collector?.close();
});

/** What the upstream received for the last request, by the echo it answered with. */
function echoed(r: { json<T>(): T }): Record<string, string> {
  return r.json<{ headers: Record<string, string> }>().headers;
}

function traceIdOf(traceparent: string): string {
  return traceparent.split('-')[1]!;
}

async function spansOf(traceId: string, count: number): Promise<DecodedSpan[]> {
  await eventually(() => otlpSpans(collector).filter((s) => s.traceId === traceId).length >= count);
  return otlpSpans(collector).filter((s) => s.traceId === traceId);
}

test('a request starts a trace: a server span and an upstream client span, exported as OTLP protobuf with the resource', async () => {
  const r = await get(`${gw.url}/on/items?q=1`, { headers: { 'user-agent': 'otel-test', 'x-tenant': 'acme', 'x-pre-one': '1', 'X-Exact': 'yes', 'x-other': 'no' } });
  assert.equal(r.status, 200);
  const sent = echoed(r);
  const [version, traceId, spanId, flags] = sent.traceparent!.split('-');
  assert.deepEqual([version, flags], ['00', '01']);
  assert.equal(sent.tracestate, undefined);
  const spans = await spansOf(traceId!, 2);
  const server = spans.find((s) => s.kind === 2)!;
  const client = spans.find((s) => s.kind === 3)!;
  // APISIX injects the server span's context upstream
  assert.equal(server.spanId, spanId);
  assert.equal(server.parentSpanId, '');
  assert.equal(server.name, 'GET /on/*');
  assert.deepEqual(server.status, { code: 0, message: '' });
  assert.deepEqual(server.resource, { hostname: hostname(), 'service.name': 'edge-gw', 'deployment.environment': 'test', replicas: 2 });
  assert.equal(server.scope.name, 'gatehouse');
  const a = server.attributes;
  assert.equal(a['http.method'], 'GET');
  assert.equal(a['http.request.method'], 'GET');
  assert.equal(a['http.target'], '/on/items?q=1');
  assert.equal(a['url.path'], '/on/items');
  assert.equal(a['url.scheme'], 'http');
  assert.equal(a['http.user_agent'], 'otel-test');
  assert.equal(a['user_agent.original'], 'otel-test');
  assert.equal(a['http.route'], '/on/*');
  assert.equal(a['apisix.route_id'], 'on');
  assert.equal(a['apisix.route_name'], 'always');
  assert.equal(a['apisix.service_id'], 'svc');
  assert.equal(a['apisix.service_name'], 'shop');
  assert.equal(a['client.address'], '127.0.0.1');
  assert.equal(a['http.status_code'], 200);
  assert.equal(server.attributeTypes['http.response.status_code'], 'intValue');
  assert.equal(a['apisix.response_source'], 'upstream');
  // additional attributes: variables (as text), an exact header and a header prefix
  assert.equal(a.http_x_tenant, 'acme');
  assert.equal(a.upstream_status, '200');
  assert.equal(a['x-pre-one'], '1');
  assert.equal(a['x-exact'], 'yes');
  assert.equal(a['x-other'], undefined);
  // the upstream call, child of the server span, inside it in time
  assert.equal(client.parentSpanId, server.spanId);
  assert.equal(client.name, 'GET');
  assert.equal(client.attributes['server.address'], '127.0.0.1');
  assert.equal(client.attributes['server.port'], up.port);
  assert.equal(client.attributes['network.peer.port'], up.port);
  assert.equal(client.attributes['url.full'], `http://127.0.0.1:${up.port}/on/items?q=1`);
  assert.equal(client.attributes['http.response.status_code'], 200);
  assert.ok(client.startNs >= server.startNs && client.endNs <= server.endNs && server.endNs > server.startNs);
  // the export itself: OTLP/HTTP's path and content type, with the configured headers
  const post = collector.posts.find((p) => p.url === '/v1/traces')!;
  assert.equal(post.headers['content-type'], 'application/x-protobuf');
  assert.equal(post.headers.authorization, 'Bearer collector-token');
  // node config tracing is off: no phase spans
  assert.equal(spans.filter((s) => s.name.startsWith('apisix.phase')).length, 0);
});

test('an incoming traceparent continues its trace; its tracestate goes on to the upstream', async () => {
  const r = await get(`${gw.url}/on/x`, { headers: { traceparent: `00-${INCOMING_TRACE}-${INCOMING_SPAN}-01`, tracestate: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE' } });
  const sent = echoed(r);
  assert.equal(traceIdOf(sent.traceparent!), INCOMING_TRACE);
  assert.notEqual(sent.traceparent!.split('-')[2], INCOMING_SPAN);
  assert.equal(sent.tracestate, 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
  const server = (await spansOf(INCOMING_TRACE, 2)).find((s) => s.kind === 2)!;
  assert.equal(server.parentSpanId, INCOMING_SPAN);
  assert.equal(server.traceState, 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
  assert.equal(server.spanId, sent.traceparent!.split('-')[2]);
});

test('a malformed traceparent starts a new trace and its tracestate is dropped', async () => {
  const sent = echoed(await get(`${gw.url}/on/bad`, { headers: { traceparent: `00-${INCOMING_TRACE.toUpperCase()}-${INCOMING_SPAN}-01`, tracestate: 'a=b' } }));
  assert.notEqual(traceIdOf(sent.traceparent!), INCOMING_TRACE.toLowerCase());
  assert.equal(sent.tracestate, undefined);
});

test('the trace variables reach a logger\'s log_format', async () => {
  const sent = echoed(await get(`${gw.url}/on/logged`));
  const entry = await (async () => {
    await eventually(() => collector.posts.some((p) => p.url === '/logs' && p.body.toString().includes(traceIdOf(sent.traceparent!))));
    return JSON.parse(collector.posts.find((p) => p.url === '/logs' && p.body.toString().includes(traceIdOf(sent.traceparent!)))!.body.toString());
  })();
  assert.equal(entry.traceparent, sent.traceparent);
  assert.equal(entry.trace, traceIdOf(sent.traceparent!));
  assert.equal(entry.span, sent.traceparent!.split('-')[2]);
});

test('always_off exports nothing but still propagates (flags 00); parent_base follows the caller', async () => {
  const off = traceIdOf(echoed(await get(`${gw.url}/off`)).traceparent!);
  const offSampledCaller = echoed(await get(`${gw.url}/off`, { headers: { traceparent: `00-${'1'.repeat(32)}-${INCOMING_SPAN}-01` } })).traceparent!;
  assert.match(offSampledCaller, new RegExp(`^00-${'1'.repeat(32)}-[0-9a-f]{16}-00$`));
  const followed = echoed(await get(`${gw.url}/parent`, { headers: { traceparent: `00-${'2'.repeat(32)}-${INCOMING_SPAN}-01` } })).traceparent!;
  assert.match(followed, /-01$/);
  const refused = echoed(await get(`${gw.url}/parent`, { headers: { traceparent: `00-${'3'.repeat(32)}-${INCOMING_SPAN}-00` } })).traceparent!;
  assert.match(refused, /-00$/);
  const rootOff = traceIdOf(echoed(await get(`${gw.url}/parent`)).traceparent!);
  // trace_id_ratio decides on the trace id: the first 32 bits below half of the range are sampled
  const low = echoed(await get(`${gw.url}/ratio`, { headers: { traceparent: `00-0000000f${'4'.repeat(24)}-${INCOMING_SPAN}-00` } })).traceparent!;
  const high = echoed(await get(`${gw.url}/ratio`, { headers: { traceparent: `00-ffffff00${'5'.repeat(24)}-${INCOMING_SPAN}-01` } })).traceparent!;
  assert.match(low, /-01$/);
  assert.match(high, /-00$/);
  // a sampled request after them all: once its spans are in, anything sent before would be too
  await spansOf(traceIdOf(low), 2);
  const sentOrder = await spansOf('2'.repeat(32), 2);
  assert.equal(sentOrder.find((s) => s.kind === 2)!.parentSpanId, INCOMING_SPAN);
  const last = traceIdOf(echoed(await get(`${gw.url}/on/last`)).traceparent!);
  await spansOf(last, 2);
  const traces = new Set(otlpSpans(collector).map((s) => s.traceId));
  for (const t of [off, '1'.repeat(32), '3'.repeat(32), rootOff, `ffffff00${'5'.repeat(24)}`]) assert.ok(!traces.has(t), `trace ${t} was exported`);
});

test('a 5xx answer makes the server span an error; a refused node is a failed client span before the retried one', async () => {
  const failing = await get(`${gw.url}/status/503`);
  assert.equal(failing.status, 503);
  const r = await get(`${gw.url}/status/201`);
  assert.equal(r.status, 201);
  // the echo does not answer /status/*: read the trace of the failing request from the collector
  await eventually(() => otlpSpans(collector).some((s) => s.kind === 2 && s.attributes['http.target'] === '/status/503'));
  const server = otlpSpans(collector).find((s) => s.kind === 2 && s.attributes['http.target'] === '/status/503')!;
  assert.deepEqual(server.status, { code: 2, message: 'upstream error: 503' });
  const client = (await spansOf(server.traceId, 2)).find((s) => s.kind === 3)!;
  assert.equal(client.status.code, 2);
  assert.equal(client.attributes['error.type'], '503');
  const ok = otlpSpans(collector).find((s) => s.kind === 2 && s.attributes['http.target'] === '/status/201')!;
  assert.equal(ok.status.code, 0);

  const retried = echoed(await get(`${gw.url}/retried`));
  const spans = await spansOf(traceIdOf(retried.traceparent!), 3);
  const attempts = spans.filter((s) => s.kind === 3).sort((x, y) => Number(x.startNs - y.startNs));
  assert.equal(attempts.length, 2);
  assert.equal(attempts[0]!.attributes['server.port'], 1);
  assert.equal(attempts[0]!.attributes['error.type'], 'ECONNREFUSED');
  assert.equal(attempts[0]!.status.code, 2);
  assert.equal(attempts[1]!.attributes['server.port'], up.port);
  assert.equal(attempts[1]!.attributes['http.request.resend_count'], 1);
  assert.equal(attempts[1]!.status.code, 0);
});

test('a plugin\'s refusal is a server span without upstream call, its source apisix', async () => {
  const r = await get(`${gw.url}/refused`, { headers: { traceparent: `00-${'6'.repeat(32)}-${INCOMING_SPAN}-01` } });
  assert.equal(r.status, 401);
  const server = (await spansOf('6'.repeat(32), 1))[0]!;
  assert.equal(server.kind, 2);
  assert.equal(server.attributes['apisix.response_source'], 'apisix');
  assert.equal(server.attributes['http.status_code'], 401);
  assert.equal(server.status.code, 0);
  // give a client span time to show up, were there one
  await get(`${gw.url}/on/after-refused`).then(async (x) => spansOf(traceIdOf(echoed(x).traceparent!), 2));
  assert.equal(otlpSpans(collector).filter((s) => s.traceId === '6'.repeat(32)).length, 1);
});

test('a dead collector costs requests nothing: bounded queue, drops counted, few warnings', async () => {
  const from = gw.output().length;
  await gw.writeConfig(config('127.0.0.1:1'));
  // the new metadata is in force once a request's export goes nowhere (the live collector stops hearing)
  const exports = (): number => collector.posts.filter((p) => p.url === '/v1/traces').length;
  await eventually(async () => {
    const before = exports();
    await get(`${gw.url}/on/switch`);
    await new Promise((r) => setTimeout(r, 300));
    return exports() === before;
  }, 50, 100);
  const statuses = new Map<number, number>();
  for (let round = 0; round < 20; round++) {
    const batch = await Promise.all(Array.from({ length: 10 }, () => get(`${gw.url}/on/dead`)));
    for (const r of batch) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
  }
  assert.deepEqual([...statuses], [[200, 200]]);
  await gw.waitForOutput(/Batch Processor\[opentelemetry exporter\] \d+ failed attempt/, from);
  await eventually(async () => {
    await Promise.all(Array.from({ length: 10 }, () => get(`${gw.url}/on/dead`)));
    const m = /gatehouse_tracing_spans_dropped_total\{plugin="opentelemetry",reason="queue_full"\} (\d+)/.exec((await get(gw.metricsUrl)).body);
    return m !== null && Number(m[1]) > 0;
  }, 100, 100);
  const warnings = gw.output().slice(from).match(/Batch Processor\[opentelemetry exporter\]/g) ?? [];
  assert.ok(warnings.length <= 2, `${warnings.length} warnings`);
});
