import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWithUpstream, stopWithUpstream, eventually, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { startFakeElasticsearch, type FakeElasticsearch } from '../../helpers/fake-elasticsearch.js';
import { assertDeadSinkCostsNothing } from '../../helpers/logger-checks.js';

// elasticsearch-logger against a local server speaking Elasticsearch's documented
// `GET /` and `_bulk` (NDJSON) with basic auth (test/helpers/fake-elasticsearch.ts).
// Not tried against a real Elasticsearch (none here).

let gw: Gateway;
let up: TestUpstream;
let es: FakeElasticsearch;

before(async () => {
  es = await startFakeElasticsearch({ version: '8.13.4', credentials: 'gatehouse:es-password-1' });
  ({ gw, up } = await startWithUpstream((upstream) => ({
    routes: [
      { id: 'es', uri: '/es/*', upstream, plugins: { 'elasticsearch-logger': {
        endpoint_addrs: [es.url], field: { index: 'gatehouse-$route_id-{!%Y.%m.%d}' }, auth: { username: 'gatehouse', password: 'es-password-1' },
        batch_max_size: 2, include_resp_body: true, max_resp_body_bytes: 16,
      } } },
      { id: 'down', uri: '/down', upstream, plugins: { 'elasticsearch-logger': {
        endpoint_addrs: ['http://127.0.0.1:1'], field: { index: 'x' }, auth: { username: 'u', password: 'es-password-2' }, batch_max_size: 1, timeout: 1,
      } } },
    ],
  })));
});

after(async () => {
  await stopWithUpstream(gw, up);
  await es?.close();
});

test('a batch is one _bulk request: create actions on the dated index, APISIX\'s default documents, basic auth', async () => {
  const r1 = await get(`${gw.url}/es/one?x=1`);
  await get(`${gw.url}/es/two`, { method: 'POST', body: 'hi' });
  await eventually(() => es.bulks.length === 1);
  const [bulk] = es.bulks;
  assert.equal(es.versionChecks, 1);
  const today = new Date().toISOString().slice(0, 10).replace(/-/g, '.');
  assert.deepEqual(bulk!.actions, [{ op: 'create', _index: `gatehouse-es-${today}` }, { op: 'create', _index: `gatehouse-es-${today}` }]);
  const [doc1, doc2] = bulk!.docs as { route_id: string; request: { uri: string; method: string; querystring: unknown }; response: { status: number; body: string } }[];
  assert.equal(doc1!.route_id, 'es');
  assert.equal(doc1!.request.uri, '/es/one?x=1');
  assert.deepEqual(doc1!.request.querystring, { x: '1' });
  assert.equal(doc1!.response.status, 200);
  assert.equal(doc1!.response.body, r1.body.slice(0, 16));
  assert.equal(doc2!.request.method, 'POST');
});

test('a dead cluster costs the client nothing; the password never reaches the gateway\'s log', async () => {
  await assertDeadSinkCostsNothing(gw, '/down', 'elasticsearch-logger', 'elasticsearch-logger');
  assert.doesNotMatch(gw.output(), /es-password/);
  for (const credentials of ['u:es-password-2', 'gatehouse:es-password-1']) {
    assert.ok(!gw.output().includes(Buffer.from(credentials).toString('base64')), 'the Authorization header is not logged');
  }
});
