import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, eventually, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { startTraceCollector, zipkinSpans, type TraceCollector, type ZipkinSpan } from '../../helpers/trace-collectors.js';

// zipkin against a local server taking Zipkin's v2 JSON (POST /api/v2/spans): B3 single and
// multi headers in, x-b3-* out, the 400 on a malformed b3, APISIX's spans for both span
// versions, and the variables in a logger's log_format.

let gw: Gateway;
let up: TestUpstream;
let zipkin: TraceCollector;

const TRACE = '80f198ee56343ba864fe8b2a57d3eff7';
const SPAN = 'e457b5a2e4d86bd1';
const PARENT = '05e3ac9a4f6e3b90';

const REQUESTS: [name: string, path: string, headers: Record<string, string>][] = [
  ['new', '/v2/a?x=1', {}],
  ['multi', '/v2/m', { 'x-b3-traceid': TRACE, 'x-b3-spanid': SPAN, 'x-b3-parentspanid': PARENT, 'x-b3-sampled': '1' }],
  ['single', '/v2/s', { b3: `${'1'.repeat(32)}-${SPAN}-1-${PARENT}` }],
  ['single-off', '/v2/s', { b3: `${'2'.repeat(32)}-${SPAN}-0-${PARENT}` }],
  ['zero', '/v2/s', { b3: '0' }],
  ['debug', '/v2/s', { b3: `${'3'.repeat(32)}-${SPAN}-d` }],
  ['invalid-ids', '/rare', { 'x-b3-traceid': 'not-hex', 'x-b3-spanid': SPAN, 'x-b3-sampled': '1' }],
  ['v1', '/v1/x', {}],
  ['logged', '/v2/logged', {}],
  ['twin', '/twin', {}],
];
/** The requests whose spans are reported (the others are not sampled). */
const SAMPLED = ['new', 'multi', 'single', 'debug', 'invalid-ids', 'v1', 'logged', 'twin'];
/** What the upstream got for each of REQUESTS. */
const sent = new Map<string, Record<string, string | undefined>>();

before(async () => {
  zipkin = await startTraceCollector();
  zipkin.status = 202;
  up = await startUpstream('a');
  const upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
  const endpoint = `${zipkin.url}/api/v2/spans`;
  gw = await startGateway({
    config: {
      plugin_metadata: [{ id: 'zipkin', set_ngx_var: true }],
      routes: [
        {
          id: 'v2', uri: '/v2/*', upstream,
          plugins: {
            zipkin: { endpoint, sample_ratio: 1, service_name: 'edge-gw' },
            'http-logger': { uri: `${zipkin.url}/logs`, batch_max_size: 1, log_format: { tp: '$zipkin_context_traceparent', trace: '$zipkin_trace_id', span: '$zipkin_span_id' } },
          },
        },
        { id: 'v1', uri: '/v1/*', upstream, plugins: { zipkin: { endpoint, sample_ratio: 1, span_version: 1, server_addr: '10.1.2.3' } } },
        { id: 'rare', uri: '/rare', upstream, plugins: { zipkin: { endpoint, sample_ratio: 0.00001 } } },
        // the same endpoint and service as v2: one reporter for both routes
        { id: 'twin', uri: '/twin', upstream, plugins: { zipkin: { endpoint, sample_ratio: 1, service_name: 'edge-gw' } } },
      ],
    },
  });
  // The reporter sends a batch after 5 s without spans (APISIX's settings): every request
  // whose spans a test reads is made here, so that the tests wait for one batch, not one each.
  for (const [name, path, headers] of REQUESTS) sent.set(name, await sentUpstream(path, headers));
  await eventually(() => {
    const traces = new Set(zipkinSpans(zipkin, '/api/v2/spans').map((x) => x.traceId));
    return SAMPLED.every((name) => traces.has(sent.get(name)!['x-b3-traceid']!));
  }, 300, 50);
});

after(async () => {
  await gw?.stop();
  await up?.close();
  await zipkin?.close();
});

/** The x-b3-* headers the upstream got (and whether b3 reached it). */
async function sentUpstream(path: string, headers: Record<string, string> = {}): Promise<Record<string, string | undefined>> {
  const r = await get(`${gw.url}${path}`, { headers });
  assert.equal(r.status, 200, r.body);
  return r.json<{ headers: Record<string, string> }>().headers;
}

function spansOf(traceId: string, count: number): ZipkinSpan[] {
  const spans = zipkinSpans(zipkin, '/api/v2/spans').filter((s) => s.traceId === traceId);
  assert.equal(spans.length, count, `spans of trace ${traceId}`);
  return spans;
}

test('a new trace: x-b3-* go upstream naming the proxy span, and the spans arrive as Zipkin v2 JSON', () => {
  const h = sent.get('new')!;
  assert.match(h['x-b3-traceid']!, /^[0-9a-f]{32}$/);
  assert.equal(h['x-b3-sampled'], '1');
  const spans = spansOf(h['x-b3-traceid']!, 3);
  const post = zipkin.posts.find((p) => p.url === '/api/v2/spans')!;
  assert.equal(post.headers['content-type'], 'application/json');
  const byName = new Map(spans.map((s) => [s.name, s]));
  const request = byName.get('apisix.request')!;
  const proxy = byName.get('apisix.proxy')!;
  const response = byName.get('apisix.response_span')!;
  assert.equal(request.kind, 'SERVER');
  assert.equal(request.parentId, undefined);
  assert.equal(proxy.parentId, request.id);
  assert.equal(response.parentId, request.id);
  // the upstream is told about the proxy span, whose parent is the request span
  assert.equal(h['x-b3-spanid'], proxy.id);
  assert.equal(h['x-b3-parentspanid'], request.id);
  assert.deepEqual(request.tags, {
    component: 'apisix', 'http.method': 'GET', 'http.url': '/v2/a?x=1', 'http.status_code': '200', 'apisix.response_source': 'upstream',
  });
  assert.equal(request.remoteEndpoint?.ipv4, '127.0.0.1');
  assert.equal(typeof request.remoteEndpoint?.port, 'number');
  assert.equal(request.localEndpoint?.serviceName, 'edge-gw');
  assert.equal(request.localEndpoint?.ipv4, '127.0.0.1');
  assert.equal(request.localEndpoint?.port, gw.httpPort);
  assert.ok(Number.isInteger(request.timestamp) && request.timestamp > 1.6e15 && request.duration >= 1);
  assert.ok(proxy.timestamp + proxy.duration <= response.timestamp + 1);
});

test('routes reporting to one endpoint as one service share a reporter: their spans go in one batch', () => {
  const traceIds = (body: Buffer): Set<string> => new Set((JSON.parse(body.toString()) as ZipkinSpan[]).map((x) => x.traceId));
  const withNew = zipkin.posts.filter((p) => p.url === '/api/v2/spans' && traceIds(p.body).has(sent.get('new')!['x-b3-traceid']!));
  assert.equal(withNew.length, 1);
  assert.ok(traceIds(withNew[0]!.body).has(sent.get('twin')!['x-b3-traceid']!), 'the twin route\'s spans are in the same POST');
});

test('multi headers: the caller\'s trace goes on, its span the parent of the request span', () => {
  const h = sent.get('multi')!;
  assert.equal(h['x-b3-traceid'], TRACE);
  const request = spansOf(TRACE, 3).find((s) => s.name === 'apisix.request')!;
  assert.equal(request.parentId, SPAN);
  assert.equal(h['x-b3-parentspanid'], request.id);
});

test('the single b3 header: parsed, removed before proxying, 0 disables, d is debug', () => {
  const trace = '1'.repeat(32);
  const h = sent.get('single')!;
  assert.equal(h.b3, undefined);
  assert.equal(h['x-b3-traceid'], trace);
  assert.equal(h['x-b3-sampled'], '1');
  assert.equal(spansOf(trace, 3).find((s) => s.name === 'apisix.request')!.parentId, SPAN);

  const off = sent.get('single-off')!;
  assert.equal(off['x-b3-sampled'], '0');
  assert.equal(off['x-b3-traceid'], '2'.repeat(32));
  // not sampled: the request span itself is passed on, its parent the caller's span
  assert.equal(off['x-b3-parentspanid'], SPAN);
  assert.match(off['x-b3-spanid']!, /^[0-9a-f]{16}$/);

  const zero = sent.get('zero')!;
  assert.equal(zero['x-b3-sampled'], '0');
  assert.match(zero['x-b3-traceid']!, /^[0-9a-f]{32}$/);

  const debug = sent.get('debug')!;
  assert.equal(debug['x-b3-sampled'], '1');
  assert.equal(debug['x-b3-flags'], '1');
  spansOf('3'.repeat(32), 3);

  // not sampled: nothing reported, though sampled requests made after them were
  spansOf('2'.repeat(32), 0);
  spansOf(zero['x-b3-traceid']!, 0);
});

test('a malformed b3 header is a 400, and the upstream never sees the request', async () => {
  const seen = up.seen.length;
  const r = await get(`${gw.url}/v2/bad`, { headers: { b3: TRACE } });
  assert.equal(r.status, 400);
  assert.equal(up.seen.length, seen);
  await gw.waitForOutput(/invalid b3 header/);
});

test('invalid ids start a new trace; the caller\'s sampling decision still holds', async () => {
  const h = sent.get('invalid-ids')!;
  assert.notEqual(h['x-b3-traceid'], 'not-hex');
  assert.match(h['x-b3-traceid']!, /^[0-9a-f]{32}$/);
  assert.equal(h['x-b3-sampled'], '1');
  assert.equal(h['x-b3-parentspanid'], spansOf(h['x-b3-traceid']!, 3).find((s) => s.name === 'apisix.request')!.id);
  // x-b3-flags: 1 forces sampling on a route that almost never samples
  assert.equal((await sentUpstream('/rare', { 'x-b3-flags': '1' }))['x-b3-sampled'], '1');
  const rare = await sentUpstream('/rare');
  assert.equal(rare['x-b3-sampled'], '0');
});

test('span_version 1: rewrite, access, proxy and body_filter spans, from the configured server_addr', () => {
  const h = sent.get('v1')!;
  const spans = spansOf(h['x-b3-traceid']!, 5);
  const byName = new Map(spans.map((s) => [s.name, s]));
  const request = byName.get('apisix.request')!;
  for (const name of ['apisix.rewrite', 'apisix.access', 'apisix.proxy']) assert.equal(byName.get(name)?.parentId, request.id, name);
  assert.equal(byName.get('apisix.body_filter')?.parentId, byName.get('apisix.proxy')!.id);
  assert.equal(h['x-b3-spanid'], byName.get('apisix.proxy')!.id);
  assert.equal(request.localEndpoint?.ipv4, '10.1.2.3');
  assert.equal(request.localEndpoint?.serviceName, 'APISIX');
});

test('the zipkin variables reach a logger\'s log_format', async () => {
  const trace = sent.get('logged')!['x-b3-traceid']!;
  await eventually(() => zipkin.posts.some((p) => p.url === '/logs' && p.body.toString().includes(trace)));
  const entry = JSON.parse(zipkin.posts.find((p) => p.url === '/logs' && p.body.toString().includes(trace))!.body.toString());
  const request = spansOf(trace, 3).find((s) => s.name === 'apisix.request')!;
  assert.equal(entry.trace, trace);
  assert.equal(entry.span, request.id);
  assert.equal(entry.tp, `00-${trace}-${request.id}-01`);
});
