import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import plugin, { bulkBody, compileDateFormat, compileIndex, refusedItems } from './elasticsearch-logger.js';
import { metricsRegistry } from '../observability/metrics.js';
import { secretPaths } from '../plugin-runtime/secret-fields.js';
import { createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';
import { startFakeElasticsearch } from '../../test/helpers/fake-elasticsearch.js';
import { until, expectBatchFailure } from '../../test/helpers/log-servers.js';

after(() => plugin.destroy!());

const field = { index: 'logs' };

test('declares statistics 413 with APISIX\'s fields and defaults', () => {
  assert.equal(plugin.priority, 413);
  assert.match(schemaError(plugin.schema, { endpoint_addrs: ['http://e'] })!, /field/);
  assert.match(schemaError(plugin.schema, { endpoint_addrs: ['http://e/'], field })!, /endpoint_addrs/);
  assert.match(schemaError(plugin.schema, { endpoint_addrs: ['http://e'], field: { index: 'x', type: 'doc' } })!, /additional properties.*type/);
  assert.match(schemaError(plugin.schema, { endpoint_addrs: ['http://e'], field, auth: { username: 'u' } })!, /password/);
  const p = prepareWith(plugin, { endpoint_addrs: ['http://127.0.0.1:9200'], field });
  assert.deepEqual({ timeout: p.conf.timeout, ssl_verify: p.conf.ssl_verify }, { timeout: 10, ssl_verify: true });
  // APISIX's encrypt_fields: masked for viewer keys
  assert.deepEqual(secretPaths(plugin.schema), [['auth', 'password'], ['headers']]);
});

test('refused when written: no endpoint, both endpoint fields, headers that auth or the body set, another scheme', () => {
  assert.throws(() => prepareWith(plugin, { field }), /endpoint_addrs: required \(or the deprecated endpoint_addr\)/);
  assert.throws(() => prepareWith(plugin, { endpoint_addr: 'http://a', endpoint_addrs: ['http://b'], field }), /endpoint_addr: deprecated/);
  assert.doesNotThrow(() => prepareWith(plugin, { endpoint_addr: 'http://a:9200', field }));
  assert.throws(() => prepareWith(plugin, { endpoint_addrs: ['http://a'], field, headers: { 'Content-Type': 'application/json' } }), /headers.Content-Type/);
  assert.throws(() => prepareWith(plugin, { endpoint_addrs: ['http://a'], field, auth: { username: 'u', password: 'p' }, headers: { Authorization: 'x' } }),
    /headers.Authorization: set from auth/);
  assert.throws(() => prepareWith(plugin, { endpoint_addrs: ['tcp://a:9200'], field }), /endpoint_addrs\[0\]: scheme "tcp"/);
});

test('field.index: dates in braces (local time, ! for UTC) and variables, per request', () => {
  const at = new Date(Date.UTC(2024, 1, 9, 7, 5, 3));
  assert.equal(compileDateFormat('!%Y.%m.%d')(at), '2024.02.09');
  assert.equal(compileDateFormat('!%y-%j %H:%M:%S %a %b %%')(at), '24-040 07:05:03 Fri Feb %');
  assert.equal(compileDateFormat('%Y')(at), String(at.getFullYear()));
  assert.throws(() => compileDateFormat('%Z'), /field.index: "\{%Z\}" uses %Z, which is not supported/);
  const index = compileIndex('svc-$host-${arg_team}-{!%Y.%m}');
  assert.equal(index(createTestContext({ uri: '/?team=red', host: 'api.test' }), at), 'svc-api.test-red-2024.02');
  assert.throws(() => compileIndex('logs-$hots'), /field.index: unknown variable '\$hots'/);
});

test('bulk body: a create action (with _type "_doc" for 5.x and 6.x) then the document, LF after each', () => {
  const entries = [{ index: 'a', doc: { n: 1 } }, { index: 'b', doc: { n: 2 } }];
  assert.equal(bulkBody(entries, 8), '{"create":{"_index":"a"}}\n{"n":1}\n{"create":{"_index":"b"}}\n{"n":2}\n');
  assert.equal(bulkBody(entries.slice(0, 1), 6), '{"create":{"_index":"a","_type":"_doc"}}\n{"n":1}\n');
  assert.equal(bulkBody(entries.slice(0, 1), undefined), '{"create":{"_index":"a"}}\n{"n":1}\n');
  assert.deepEqual(refusedItems('{"errors":false,"items":[{"create":{"status":201}}]}'), { refused: 0, reason: '' });
  assert.deepEqual(refusedItems('{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":400,"error":{"type":"x","reason":"y"}}}]}'),
    { refused: 1, reason: '400 x: y' });
});

test('against a 6.x server: version read once, _type sent, basic auth; refused documents counted, not retried', async () => {
  const es = await startFakeElasticsearch({ version: '6.8.23', credentials: 'elastic:s3cret' });
  try {
    const p = prepareWith(plugin, {
      endpoint_addrs: [es.url], field: { index: 'gw-{!%Y}' }, auth: { username: 'elastic', password: 's3cret' },
      headers: { 'X-Opaque-Id': 'gatehouse' }, batch_max_size: 2, max_retry_count: 2, retry_delay: 0, log_format: { u: '$uri' },
    });
    plugin.log!(p, createTestContext({ uri: '/1' }));
    plugin.log!(p, createTestContext({ uri: '/2' }));
    await until(() => es.bulks.length === 1);
    es.refuseNext.add(1);
    plugin.log!(p, createTestContext({ uri: '/3' }));
    plugin.log!(p, createTestContext({ uri: '/4' }));
    await until(() => p.processor!.sent === 2);
    assert.equal(es.versionChecks, 1);
    assert.equal(p.sink.version(), 6);
    const year = String(new Date().getUTCFullYear());
    assert.deepEqual(es.bulks[0]!.actions, [{ op: 'create', _index: `gw-${year}`, _type: '_doc' }, { op: 'create', _index: `gw-${year}`, _type: '_doc' }]);
    assert.deepEqual(es.bulks.flatMap((b) => b.docs), [{ u: '/1' }, { u: '/2' }, { u: '/3' }, { u: '/4' }], 'no batch sent twice');
    assert.equal(es.bulks[0]!.headers['x-opaque-id'], 'gatehouse');
    assert.equal(es.bulks[0]!.headers['content-type'], 'application/x-ndjson');
    const m = (await metricsRegistry.getSingleMetric('gatehouse_logger_dropped_total')!.get()).values;
    assert.equal(m.find((v) => v.labels.plugin === 'elasticsearch-logger' && v.labels.reason === 'rejected')?.value, 1);
  } finally {
    await es.close();
  }
});

test('batches sent while the version is being read wait for it: each carries the 6.x _type', async () => {
  const es = await startFakeElasticsearch({ version: '6.8.23', versionDelayMs: 150 });
  try {
    const p = prepareWith(plugin, { endpoint_addrs: [es.url], field });
    const entry = (uri: string): { index: string; doc: Record<string, unknown> } => ({ index: 'logs', doc: { uri } });
    await Promise.all([p.sink.send([entry('/a')]), p.sink.send([entry('/b')])]);
    assert.equal(es.versionChecks, 1);
    assert.equal(es.bulks.length, 2);
    for (const bulk of es.bulks) assert.deepEqual(bulk.actions, [{ op: 'create', _index: 'logs', _type: '_doc' }]);
  } finally {
    await es.close();
  }
});

test('several endpoint_addrs are taken in turn, batch by batch', async () => {
  const one = await startFakeElasticsearch();
  const two = await startFakeElasticsearch();
  try {
    const p = prepareWith(plugin, { endpoint_addrs: [one.url, two.url], field, batch_max_size: 1, log_format: { u: '$uri' } });
    for (const uri of ['/1', '/2', '/3']) {
      plugin.log!(p, createTestContext({ uri }));
      await until(() => one.bulks.length + two.bulks.length === Number(uri.slice(1)));
    }
    assert.deepEqual(one.bulks.flatMap((b) => b.docs), [{ u: '/1' }, { u: '/3' }]);
    assert.deepEqual(two.bulks.flatMap((b) => b.docs), [{ u: '/2' }]);
  } finally {
    await one.close();
    await two.close();
  }
});

test('wrong credentials fail the batch (401), never the request', async () => {
  const es = await startFakeElasticsearch({ credentials: 'elastic:right' });
  try {
    await expectBatchFailure(plugin, { endpoint_addrs: [es.url], field, auth: { username: 'elastic', password: 'wrong' }, batch_max_size: 1 });
    assert.equal(es.bulks.length, 0);
  } finally {
    await es.close();
  }
});
