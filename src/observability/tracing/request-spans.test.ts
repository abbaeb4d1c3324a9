import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestTrace, MAX_HANDLER_CALLS } from './request-trace.js';
import { phaseSpans, responseSource, upstreamSpans } from './request-spans.js';
import { SPAN_KIND, STATUS } from './span.js';

const parent = { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceState: 'k=v' };

test('handler calls: body_filter folded per plugin over the chunks, bounded per request, none when not recording', () => {
  const t = new RequestTrace(true);
  t.handlerCall('rewrite', 'p1', 1, 2);
  for (let chunk = 0; chunk < 3; chunk++) {
    t.handlerCall('body_filter', 'a', 10 + chunk * 10, 11 + chunk * 10);
    t.handlerCall('body_filter', 'b', 11 + chunk * 10, 12 + chunk * 10);
  }
  assert.deepEqual(t.handlerCalls, [
    { phase: 'rewrite', plugin: 'p1', start: 1, end: 2, calls: 1 },
    { phase: 'body_filter', plugin: 'a', start: 10, end: 31, calls: 3 },
    { phase: 'body_filter', plugin: 'b', start: 11, end: 32, calls: 3 },
  ]);
  for (let i = 0; i < 1000; i++) t.handlerCall('access', `p${i}`, i, i + 1);
  assert.equal(t.handlerCalls!.length, MAX_HANDLER_CALLS);
  const off = new RequestTrace(false);
  off.handlerCall('access', 'x', 0, 1);
  assert.equal(off.handlerCalls, undefined);
  assert.equal(off.recordsCalls, false);
});

test('phase spans: consecutive calls of a phase under one span, each handler a child of it', () => {
  const spans = phaseSpans(parent, [
    { phase: 'rewrite', plugin: 'a', start: 1, end: 2, calls: 1 },
    { phase: 'rewrite', plugin: 'b', start: 2, end: 4, calls: 1 },
    { phase: 'access', plugin: 'a', start: 4, end: 5, calls: 1 },
    { phase: 'body_filter', plugin: 'c', start: 6, end: 9, calls: 4 },
  ]);
  assert.deepEqual(spans.map((s) => [s.name, s.start, s.end]), [
    ['apisix.phase.rewrite', 1, 4], ['apisix.phase.rewrite.plugins.a', 1, 2], ['apisix.phase.rewrite.plugins.b', 2, 4],
    ['apisix.phase.access', 4, 5], ['apisix.phase.access.plugins.a', 4, 5],
    ['apisix.phase.body_filter', 6, 9], ['apisix.phase.body_filter.plugins.c', 6, 9],
  ]);
  assert.equal(spans[0]!.parentSpanId, parent.spanId);
  assert.equal(spans[1]!.parentSpanId, spans[0]!.spanId);
  assert.deepEqual(spans[6]!.attributes, ['apisix.plugin.calls', 4]);
  assert.ok(spans.every((s) => s.kind === SPAN_KIND.INTERNAL && s.traceId === parent.traceId && s.traceState === 'k=v'));
});

test('upstream spans: one client span per attempt, failures and 4xx/5xx answers are errors', () => {
  const spans = upstreamSpans(parent, [
    { host: '10.0.0.1', port: 80, start: 1, end: 2, status: undefined, error: 'ECONNREFUSED' },
    { host: '::1', port: 8080, start: 2, end: 5, status: 404, error: undefined },
    { host: '10.0.0.2', port: 80, start: 5, end: 6, status: 200, error: undefined },
  ], { method: 'POST', scheme: 'https', target: '/a?b=1' });
  assert.deepEqual(spans.map((s) => [s.name, s.kind, s.status, s.statusMessage]), [
    ['POST', SPAN_KIND.CLIENT, STATUS.ERROR, 'upstream attempt failed: ECONNREFUSED'],
    ['POST', SPAN_KIND.CLIENT, STATUS.ERROR, 'upstream answered 404'],
    ['POST', SPAN_KIND.CLIENT, STATUS.UNSET, ''],
  ]);
  const attrs = (i: number): Record<string, unknown> => Object.fromEntries(Array.from({ length: spans[i]!.attributes.length / 2 }, (_, k) => [spans[i]!.attributes[2 * k], spans[i]!.attributes[2 * k + 1]]));
  assert.equal(attrs(0)['error.type'], 'ECONNREFUSED');
  assert.equal(attrs(0)['http.request.resend_count'], undefined);
  assert.equal(attrs(1)['url.full'], 'https://[::1]:8080/a?b=1');
  assert.equal(attrs(1)['error.type'], '404');
  assert.equal(attrs(2)['http.request.resend_count'], 2);
  assert.equal(attrs(2)['http.response.status_code'], 200);
  assert.ok(spans.every((s) => s.parentSpanId === parent.spanId));
});

test('response source: a plugin\'s answer, an upstream\'s, or the gateway\'s for a failed upstream', () => {
  const vars = (v: Record<string, unknown>) => (name: string): unknown => v[name];
  assert.equal(responseSource(vars({ plugin_responded: 'key-auth' })), 'apisix');
  assert.equal(responseSource(vars({ upstream_header_time: 0.001, upstream_addr: '1.2.3.4:80' })), 'upstream');
  assert.equal(responseSource(vars({ upstream_addr: '1.2.3.4:80' })), 'nginx');
  assert.equal(responseSource(vars({})), 'apisix');
});
