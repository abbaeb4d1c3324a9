import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, eventually, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { otlpSpans, startTraceCollector, type TraceCollector } from '../../helpers/trace-collectors.js';

// An upstream attempt whose answer the gateway then gave up on (a body filter over the node's
// buffer bound): the node answered, so its client span says what it sent, without an error;
// the server span carries the gateway's failure.

let gw: Gateway;
let up: TestUpstream;
let collector: TraceCollector;

before(async () => {
  collector = await startTraceCollector();
  up = await startUpstream('a');
  gw = await startGateway({
    node: { max_buffered_body_size: 1024 },
    config: {
      plugin_metadata: [{ id: 'opentelemetry', collector: { address: collector.address }, batch_span_processor: { inactive_timeout: 0.05 } }],
      routes: [{
        id: 'r', uri: '/bytes/*', upstream: { nodes: { [`127.0.0.1:${up.port}`]: 1 } },
        plugins: {
          opentelemetry: { sampler: { name: 'always_on' } },
          'response-rewrite': { filters: [{ regex: 'x', replace: 'y' }] },
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

test('a body filter failing the response leaves the upstream attempt as the node answered it', async () => {
  const r = await get(`${gw.url}/bytes/4096`);
  assert.equal(r.status, 502);
  await eventually(() => otlpSpans(collector).some((s) => s.kind === 3));
  const spans = otlpSpans(collector);
  const client = spans.find((s) => s.kind === 3)!;
  const server = spans.find((s) => s.kind === 2)!;
  assert.equal(client.parentSpanId, server.spanId);
  assert.equal(client.attributes['http.response.status_code'], 200);
  assert.equal(client.attributes['error.type'], undefined);
  assert.equal(client.status.code, 0);
  assert.equal(server.attributes['http.status_code'], 502);
});
