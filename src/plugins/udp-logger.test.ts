import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import plugin from './udp-logger.js';
import { packJsonDatagrams } from './common/log-sockets.js';
import { metricsRegistry } from '../observability/metrics.js';
import { createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';
import { startUdpLogServer, until, type UdpLogServer, expectBatchFailure } from '../../test/helpers/log-servers.js';

let server: UdpLogServer;
before(async () => { server = await startUdpLogServer(); });
after(async () => {
  await plugin.destroy!();
  await server.close();
});

test('declares statistics 400 with APISIX\'s fields and defaults', () => {
  assert.equal(plugin.priority, 400);
  assert.match(schemaError(plugin.schema, { host: 'h' })!, /port/);
  assert.match(schemaError(plugin.schema, { host: 'h', port: 1, tls: true })!, /tls/);
  const p = prepareWith(plugin, { host: '127.0.0.1', port: 9 });
  assert.equal(p.conf.timeout, 3);
  assert.equal(p.sink.target.timeoutMs, 3000);
});

test('packing: arrays as large as fit, objects when single, an entry too large for any datagram left out', () => {
  const entries = [{ a: 'x'.repeat(10) }, { b: 'y'.repeat(10) }, { c: 'z'.repeat(100) }, { d: 1 }];
  const { datagrams, tooLarge } = packJsonDatagrams(entries, false, 40);
  assert.equal(tooLarge, 1);
  for (const d of datagrams) assert.ok(d.length <= 40, `${d.length} bytes`);
  assert.deepEqual(datagrams.flatMap((d) => JSON.parse(d.toString()) as unknown[]), [entries[0], entries[1], entries[3]]);
  assert.deepEqual(packJsonDatagrams([{ a: 1 }, { b: 2 }], true).datagrams.map(String), ['{"a":1}', '{"b":2}']);
});

test('a batch is one datagram holding a JSON array; batch_max_size 1 sends the object', async () => {
  server.datagrams.length = 0;
  const p = prepareWith(plugin, { host: '127.0.0.1', port: server.port, batch_max_size: 3, log_format: { u: '$uri' } });
  for (const uri of ['/1', '/2', '/3']) plugin.log!(p, createTestContext({ uri }));
  await until(() => server.datagrams.length === 1);
  assert.deepEqual(JSON.parse(server.datagrams[0]!), [{ u: '/1' }, { u: '/2' }, { u: '/3' }]);
  const one = prepareWith(plugin, { host: 'localhost', port: server.port, batch_max_size: 1, log_format: { u: '$uri' } });
  plugin.log!(one, createTestContext({ uri: '/4' }));
  await until(() => server.datagrams.length === 2);
  assert.equal(server.datagrams[1], '{"u":"/4"}');
});

test('a batch over one datagram\'s size arrives whole, split into arrays; an oversized entry is counted too_large', async () => {
  server.datagrams.length = 0;
  const p = prepareWith(plugin, { host: '127.0.0.1', port: server.port, batch_max_size: 40, log_format: { n: '$arg_n', pad: '$http_x_pad' } });
  const pad = 'p'.repeat(4000);
  for (let n = 0; n < 39; n++) plugin.log!(p, createTestContext({ uri: `/?n=${n}`, headers: { 'x-pad': pad } }));
  plugin.log!(p, createTestContext({ uri: '/?n=big', headers: { 'x-pad': 'b'.repeat(70_000) } }));
  await until(() => p.processor!.sent === 1);
  await until(() => server.datagrams.reduce((n, d) => n + (JSON.parse(d) as unknown[]).length, 0) === 39);
  assert.ok(server.datagrams.length >= 3, `${server.datagrams.length} datagrams`);
  const got = server.datagrams.flatMap((d) => JSON.parse(d) as { n: string }[]).map((e) => e.n);
  assert.deepEqual(got, Array.from({ length: 39 }, (_, n) => String(n)));
  const m = (await metricsRegistry.getSingleMetric('gatehouse_logger_dropped_total')!.get()).values;
  assert.equal(m.find((v) => v.labels.plugin === 'udp-logger' && v.labels.reason === 'too_large')?.value, 1);
});

test('a host that does not resolve fails the batch, never the request', async () => {
  await expectBatchFailure(plugin, { host: 'no-such-host.invalid', port: 514, batch_max_size: 1, timeout: 1 });
});
