import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeExportRequest } from './otlp.js';
import { DoubleValue, epochMicros, SPAN_KIND, STATUS, type SpanRecord } from './span.js';
import { decodeOtlpTraces } from '../../../test/helpers/trace-collectors.js';

// The encoder's output, read back with the official opentelemetry-proto definitions.

const server: SpanRecord = {
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', parentSpanId: 'a3ce929d0e0e4736',
  traceState: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7', name: 'GET /api/*', kind: SPAN_KIND.SERVER,
  start: 1000.25, end: 1012.5,
  attributes: ['http.request.method', 'GET', 'http.response.status_code', 503, 'ratio', 0.25, 'negative', -42,
    'flag', true, 'whole double', new DoubleValue(3), 'unicode', 'grüße ✓', 'big', 2 ** 40],
  status: STATUS.ERROR, statusMessage: 'upstream error: 503',
};
const client: SpanRecord = {
  traceId: server.traceId, spanId: '1111111111111111', parentSpanId: undefined, traceState: '', name: 'GET', kind: SPAN_KIND.CLIENT,
  start: 1001, end: 1011, attributes: [], status: STATUS.UNSET, statusMessage: '',
};

test('an ExportTraceServiceRequest the official definitions decode field for field', () => {
  const body = encodeExportRequest({ resource: ['hostname', 'gw-1', 'service.name', 'edge', 'replicas', new DoubleValue(2)], scopeName: 'gatehouse', scopeVersion: '1.2.3' },
    [server, client]);
  const spans = decodeOtlpTraces(body);
  assert.equal(spans.length, 2);
  const [s, c] = spans as [NonNullable<(typeof spans)[0]>, NonNullable<(typeof spans)[0]>];
  assert.deepEqual(s.resource, { hostname: 'gw-1', 'service.name': 'edge', replicas: 2 });
  assert.deepEqual(s.scope, { name: 'gatehouse', version: '1.2.3' });
  assert.equal(s.traceId, server.traceId);
  assert.equal(s.spanId, server.spanId);
  assert.equal(s.parentSpanId, server.parentSpanId);
  assert.equal(s.traceState, server.traceState);
  assert.equal(s.name, 'GET /api/*');
  assert.equal(s.kind, 2);
  assert.equal(s.startNs, BigInt(epochMicros(1000.25)) * 1000n);
  assert.equal(s.endNs, BigInt(epochMicros(1012.5)) * 1000n);
  assert.deepEqual(s.attributes, {
    'http.request.method': 'GET', 'http.response.status_code': 503, ratio: 0.25, negative: -42, flag: true,
    'whole double': 3, unicode: 'grüße ✓', big: 2 ** 40,
  });
  assert.deepEqual(s.attributeTypes, {
    'http.request.method': 'stringValue', 'http.response.status_code': 'intValue', ratio: 'doubleValue', negative: 'intValue',
    flag: 'boolValue', 'whole double': 'doubleValue', unicode: 'stringValue', big: 'intValue',
  });
  assert.deepEqual(s.status, { code: 2, message: 'upstream error: 503' });
  assert.equal(c.kind, 3);
  assert.equal(c.parentSpanId, '');
  assert.equal(c.traceState, '');
  assert.deepEqual(c.attributes, {});
  assert.deepEqual(c.status, { code: 0, message: '' });
});

test('a batch of many spans stays one well-formed message (the writer grows)', () => {
  const many = Array.from({ length: 300 }, (_, i) => ({ ...client, spanId: (i + 1).toString(16).padStart(16, '0'), name: `span ${i}`.repeat(5) }));
  const spans = decodeOtlpTraces(encodeExportRequest({ resource: [], scopeName: 'gatehouse', scopeVersion: '0' }, many));
  assert.equal(spans.length, 300);
  assert.equal(spans[299]!.spanId, (300).toString(16).padStart(16, '0'));
  assert.equal(spans[299]!.name, 'span 299'.repeat(5));
});

test('lengths past what was reserved for them, non-ASCII keys and long values decode the same', () => {
  const long = 'x'.repeat(200);
  const huge = 'y'.repeat(20_000); // a span over 16 KiB: its length takes three bytes
  const odd: SpanRecord = {
    ...client, name: 'n'.repeat(130),
    attributes: ['k', long, 'ключ', 'значение', 'big', huge, 'a'.repeat(100), 'b'.repeat(100), 'empty', ''],
  };
  const [s] = decodeOtlpTraces(encodeExportRequest({ resource: ['r', long], scopeName: 'gatehouse', scopeVersion: '0' }, [odd]));
  assert.deepEqual(s!.resource, { r: long });
  assert.equal(s!.name, 'n'.repeat(130));
  assert.deepEqual(s!.attributes, { k: long, 'ключ': 'значение', big: huge, ['a'.repeat(100)]: 'b'.repeat(100), empty: '' });
});

test('a body stays as it was when the next batch is encoded (the writer is reused)', () => {
  const source = { resource: [], scopeName: 'gatehouse', scopeVersion: '0' };
  const first = encodeExportRequest(source, [server]);
  const copy = Buffer.from(first);
  encodeExportRequest(source, [{ ...client, name: 'other' }]);
  assert.deepEqual(first, copy);
  assert.equal(decodeOtlpTraces(first)[0]!.name, 'GET /api/*');
});

test('keys past the ones kept encoded, and kept ones, decode the same in later batches', () => {
  const attributes = Array.from({ length: 600 }, (_, i) => [`key.${i}`, i]).flat();
  const source = { resource: [], scopeName: 'gatehouse', scopeVersion: '0' };
  for (let round = 0; round < 2; round++) {
    const [s] = decodeOtlpTraces(encodeExportRequest(source, [{ ...client, attributes }]));
    assert.equal(Object.keys(s!.attributes).length, 600);
    assert.equal(s!.attributes['key.0'], 0);
    assert.equal(s!.attributes['key.599'], 599);
  }
});
