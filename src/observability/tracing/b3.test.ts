import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isB3SpanId, isB3TraceId, parseB3Single } from './b3.js';
import { zipkinSpan } from './zipkin-json.js';
import { epochMicros, SPAN_KIND, STATUS } from './span.js';

test('the single b3 header: two to four parts, or 0', () => {
  assert.deepEqual(parseB3Single('80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90'), {
    traceId: '80f198ee56343ba864fe8b2a57d3eff7', spanId: 'e457b5a2e4d86bd1', sampled: '1', parentSpanId: '05e3ac9a4f6e3b90',
  });
  assert.deepEqual(parseB3Single('80f198ee56343ba8-e457b5a2e4d86bd1'), { traceId: '80f198ee56343ba8', spanId: 'e457b5a2e4d86bd1', sampled: undefined, parentSpanId: undefined });
  assert.equal(parseB3Single('0')?.sampled, '0');
  assert.equal(parseB3Single('80f198ee56343ba864fe8b2a57d3eff7'), undefined);
  assert.ok(isB3TraceId('80f198ee56343ba8') && isB3TraceId('80f198ee56343ba864fe8b2a57d3eff7') && !isB3TraceId('80f198ee56343ba8z'));
  assert.ok(isB3SpanId('e457b5a2e4d86bd1') && !isB3SpanId('e457b5a2e4d86bd'));
});

test('a Zipkin v2 span: microseconds, string tags, the peer as remote endpoint', () => {
  const s = zipkinSpan({
    traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), parentSpanId: undefined, traceState: '', name: 'apisix.request', kind: SPAN_KIND.SERVER,
    start: 10, end: 10, attributes: ['http.status_code', '200', 'peer.ipv4', '::ffff:10.0.0.1', 'peer.port', 4242, 'n', 1],
    status: STATUS.UNSET, statusMessage: '',
  }, { serviceName: 'edge', ipv4: '::1', port: 9080 });
  assert.deepEqual(s, {
    traceId: 'a'.repeat(32), id: 'b'.repeat(16), name: 'apisix.request', kind: 'SERVER', timestamp: epochMicros(10), duration: 1,
    localEndpoint: { serviceName: 'edge', ipv6: '::1', port: 9080 }, remoteEndpoint: { ipv4: '10.0.0.1', port: 4242 },
    tags: { 'http.status_code': '200', n: '1' },
  });
});
