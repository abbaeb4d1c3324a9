import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, eventually, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { otlpSpans, startTraceCollector, type DecodedSpan, type TraceCollector } from '../../helpers/trace-collectors.js';

// opentelemetry with the node config's `tracing` on (APISIX's apisix.tracing): a span per
// phase and per plugin handler under the server span; trace ids taken from X-Request-Id; and
// an upstream attempt whose answer a body filter gave up on (over the node's buffer bound).

let gw: Gateway;
let up: TestUpstream;
let collector: TraceCollector;

before(async () => {
  collector = await startTraceCollector();
  up = await startUpstream('a');
  const upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
  gw = await startGateway({
    extra: { tracing: true },
    node: { max_buffered_body_size: 1024 },
    config: {
      plugin_metadata: [{
        id: 'opentelemetry', trace_id_source: 'x-request-id', collector: { address: collector.address },
        batch_span_processor: { inactive_timeout: 0.05, max_export_batch_size: 50 },
      }],
      global_rules: [{ id: 'g', plugins: { 'request-id': { include_in_response: false } } }],
      routes: [{
        id: 'big', uri: '/bytes/*', upstream,
        plugins: { opentelemetry: { sampler: { name: 'always_on' } }, 'response-rewrite': { filters: [{ regex: 'x', replace: 'y' }] } },
      }, {
        id: 'r', uri: '/*', upstream,
        plugins: {
          opentelemetry: { sampler: { name: 'always_on' } },
          'proxy-rewrite': { headers: { set: { 'x-rewritten': '1' } } },
          'response-rewrite': { body: 'replaced\n' },
        },
      }],
    },
  });
});

after(async () => {
  await gw?.stop();
  await up?.close();
  await collector?.close();
});

async function traceOf(traceId: string): Promise<DecodedSpan[]> {
  await eventually(() => otlpSpans(collector).some((s) => s.traceId === traceId && s.name === 'apisix.phase.log'));
  return otlpSpans(collector).filter((s) => s.traceId === traceId);
}

test('each phase that ran a handler is a span under the server span, each handler a span under its phase', async () => {
  const id = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
  const r = await get(`${gw.url}/x`, { headers: { 'x-request-id': id } });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'replaced\n');
  const spans = await traceOf(id);
  const server = spans.find((s) => s.kind === 2)!;
  const byName = new Map(spans.map((s) => [s.name, s]));
  // the global rule's rewrite and the route's ran one after the other: one rewrite span
  const rewrites = spans.filter((s) => s.name === 'apisix.phase.rewrite');
  assert.equal(rewrites.length, 1);
  for (const name of ['apisix.phase.rewrite', 'apisix.phase.header_filter', 'apisix.phase.body_filter', 'apisix.phase.log']) {
    assert.ok(byName.has(name), `no ${name} span`);
    for (const s of spans.filter((x) => x.name === name)) {
      assert.equal(s.parentSpanId, server.spanId, name);
      assert.equal(s.kind, 1);
    }
  }
  const handler = (name: string): DecodedSpan => {
    const s = byName.get(name);
    assert.ok(s, `no ${name} span among ${[...byName.keys()].join(', ')}`);
    return s;
  };
  assert.equal(handler('apisix.phase.rewrite.plugins.request-id').parentSpanId, rewrites[0]!.spanId);
  assert.equal(handler('apisix.phase.rewrite.plugins.proxy-rewrite').parentSpanId, rewrites[0]!.spanId);
  assert.equal(handler('apisix.phase.rewrite.plugins.opentelemetry').parentSpanId, rewrites[0]!.spanId);
  assert.ok(handler('apisix.phase.rewrite.plugins.request-id').startNs <= handler('apisix.phase.rewrite.plugins.opentelemetry').startNs);
  assert.equal(handler('apisix.phase.header_filter.plugins.response-rewrite').parentSpanId, byName.get('apisix.phase.header_filter')!.spanId);
  assert.equal(handler('apisix.phase.body_filter.plugins.response-rewrite').parentSpanId, byName.get('apisix.phase.body_filter')!.spanId);
  // this plugin's own log handler ran before the spans were exported
  assert.equal(handler('apisix.phase.log.plugins.opentelemetry').parentSpanId, byName.get('apisix.phase.log')!.spanId);
  for (const s of spans) {
    assert.equal(s.traceId, id);
    assert.ok(s.endNs >= s.startNs);
  }
  assert.ok(spans.some((s) => s.kind === 3), 'the upstream call is there too');
});

test('trace_id_source x-request-id: a valid id is the trace id, anything else a random one', async () => {
  /** The trace id the upstream was sent for a request with these headers. */
  const sentTrace = async (headers: Record<string, string>): Promise<string> => {
    assert.equal((await get(`${gw.url}/y`, { headers })).status, 200);
    return String(up.seen.at(-1)!.headers.traceparent).split('-')[1]!;
  };
  assert.equal(await sentTrace({ 'x-request-id': 'FFEEDDCCBBAA99887766554433221100' }), 'ffeeddccbbaa99887766554433221100');
  const fromUuid = await sentTrace({ 'x-request-id': '123e4567-e89b-12d3-a456-426614174000' });
  assert.match(fromUuid, /^[0-9a-f]{32}$/);
  assert.notEqual(fromUuid, '123e4567e89b12d3a456426614174000');
  // no X-Request-Id from the client: request-id's generated UUID is not a trace id either, so a random one
  assert.match(await sentTrace({}), /^[0-9a-f]{32}$/);
});

test('a body filter failing the response leaves the upstream attempt as the node answered it', async () => {
  const id = 'b1b2c3d4e5f60718293a4b5c6d7e8f90';
  const r = await get(`${gw.url}/bytes/4096`, { headers: { 'x-request-id': id } });
  assert.equal(r.status, 502);
  const spans = await traceOf(id);
  const client = spans.find((s) => s.kind === 3)!;
  const server = spans.find((s) => s.kind === 2)!;
  assert.equal(client.parentSpanId, server.spanId);
  assert.equal(client.attributes['http.response.status_code'], 200);
  assert.equal(client.attributes['error.type'], undefined);
  assert.equal(client.status.code, 0);
  assert.equal(server.attributes['http.status_code'], 502);
});
