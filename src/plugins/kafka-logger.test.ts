import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import plugin, { kafkaMessageValue, originalRequest, producerSettings, type KafkaLoggerConf } from './kafka-logger.js';
import { RequestBodyCapture } from './common/log-util.js';
import { EVERY_ITEM, secretPaths } from '../plugin-runtime/secret-fields.js';
import { startKafkaBroker, type KafkaBroker } from '../../test/helpers/kafka-broker.js';
import { createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';

// kafka-logger's schema and refusals, how entries become Kafka messages, and the plugin
// end to end against the test broker.

const BROKERS = [{ host: '127.0.0.1', port: 9092 }];
const base = { brokers: BROKERS, kafka_topic: 'logs' };

let broker: KafkaBroker | undefined;
const json = (r: { value: Buffer | null }): any => JSON.parse(r.value!.toString());
after(async () => {
  await plugin.destroy!();
  await broker?.stop();
});

function refusal(conf: Record<string, unknown>): string | undefined {
  try {
    prepareWith(plugin, conf);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

test('declares statistics 403 with APISIX\'s schema and defaults', () => {
  assert.equal(plugin.stage, 'statistics');
  assert.equal(plugin.priority, 403);
  const p = prepareWith(plugin, base);
  const c = p.conf;
  assert.deepEqual(
    [c.meta_format, c.producer_type, c.required_acks, c.timeout, c.cluster_name, c.producer_batch_num, c.producer_batch_size,
      c.producer_max_buffering, c.producer_time_linger, c.meta_refresh_interval, c.batch_max_size, c.include_req_body],
    ['default', 'async', 1, 3, 1, 200, 1048576, 50000, 1, 30, 1000, false]);
  assert.equal(p.processor, undefined, 'prepare alone opens nothing');
  assert.deepEqual(producerSettings(c), {
    brokers: ['127.0.0.1:9092'], sasl: undefined, tls: undefined, timeoutMs: 3000, requiredAcks: 1, producerType: 'async', clusterName: 1,
    batchNum: 200, batchSize: 1048576, maxBuffering: 50000, lingerMs: 1000, metadataMaxAgeMs: 30_000,
  });
  // masked for Admin API readers without the admin role, as APISIX's encrypt_fields
  assert.deepEqual(secretPaths(plugin.schema), [['brokers', EVERY_ITEM, 'sasl_config', 'password']]);
});

test('the schema refuses what APISIX refuses, and fields it does not build, by name', () => {
  assert.match(schemaError(plugin.schema, { brokers: BROKERS })!, /kafka_topic/);
  assert.match(schemaError(plugin.schema, { ...base, required_acks: 0 })!, /required_acks/);
  assert.match(schemaError(plugin.schema, { ...base, brokers: [{ host: 'k', port: 0 }] })!, /port/);
  assert.match(schemaError(plugin.schema, { ...base, brokers: [{ host: 'k', port: 1, sasl_config: { user: 'u' } }] })!, /password/);
  assert.match(schemaError(plugin.schema, { ...base, brokers: [{ host: 'k', port: 1, sasl_config: { mechanism: 'GSSAPI', user: 'u', password: 'p' } }] })!, /mechanism/);
  assert.match(schemaError(plugin.schema, { ...base, broker_list: {} })!, /broker_list/);
  assert.match(schemaError(plugin.schema, { ...base, meta_format: 'raw' })!, /meta_format/);
  assert.match(schemaError(plugin.schema, { ...base, log_format_extra: { a: '$host' } })!, /additional properties forbidden, found log_format_extra/);
});

test('prepare refuses, naming the field, what kafkajs cannot do as configured', () => {
  assert.match(refusal({ kafka_topic: 'logs' })!, /^brokers: at least one broker/);
  assert.match(refusal({ ...base, broker_list: { k: 9092 } })!, /brokers and broker_list are exclusive/);
  assert.match(refusal({ ...base, brokers: [{ host: '::1', port: 9092 }] })!, /^brokers\[0\]\.host: "::1": IPv6 literals/);
  const login = { user: 'u', password: 'p' };
  assert.match(refusal({ ...base, brokers: [{ host: 'a', port: 1, sasl_config: login }, { host: 'b', port: 1 }] })!, /^brokers\[1\]\.sasl_config: every broker needs the same sasl_config/);
  assert.match(refusal({ ...base, brokers: [{ host: 'a', port: 1, sasl_config: login }, { host: 'b', port: 1, sasl_config: { ...login, password: 'q' } }] })!, /^brokers\[1\]\.sasl_config/);
  assert.match(refusal({ ...base, api_version: 1 })!, /^api_version: 1 is not supported/);
  assert.equal(refusal({ ...base, api_version: 2 }), undefined);
  // the deprecated form still works, and a login shared by every broker is fine
  assert.deepEqual(producerSettings(prepareWith(plugin, { kafka_topic: 't', broker_list: { 'k1.example': 9092, 'k2.example': 9093 } }).conf).brokers,
    ['k1.example:9092', 'k2.example:9093']);
  const shared = prepareWith(plugin, { ...base, brokers: [{ host: 'a', port: 1, sasl_config: login }, { host: 'b', port: 2, sasl_config: login }] }).conf;
  assert.deepEqual(producerSettings(shared).sasl, { mechanism: 'PLAIN', user: 'u', password: 'p' });
});

test('a batch becomes one message: the entry itself when batch_max_size is 1, else a JSON array', () => {
  assert.equal(kafkaMessageValue([{ a: 1 }], 1), '{"a":1}');
  assert.equal(kafkaMessageValue(['GET / HTTP/1.1\r\n\r\n'], 1), 'GET / HTTP/1.1\r\n\r\n');
  assert.equal(kafkaMessageValue([{ a: 1 }, { b: 2 }], 1000), '[{"a":1},{"b":2}]');
  assert.equal(kafkaMessageValue(['raw one', 'raw two'], 2), '["raw one","raw two"]');
});

test('meta_format origin: request line, headers, blank line, then the body include_req_body kept (up to max_req_body_bytes)', async () => {
  const ctx = createTestContext({ method: 'POST', uri: '/orders?id=7', headers: { host: 'shop.example', 'content-type': 'text/plain' },
    vars: { request: 'POST /orders?id=7 HTTP/1.1' } });
  assert.equal(originalRequest(ctx, undefined), 'POST /orders?id=7 HTTP/1.1\r\nhost: shop.example\r\ncontent-type: text/plain\r\n\r\n');
  ctx.request.setBody('0123456789');
  const capture = new RequestBodyCapture('kafka-logger', { max_req_body_bytes: 4 } as KafkaLoggerConf);
  await capture.read(ctx);
  assert.match(originalRequest(ctx, capture), /\r\n\r\n0123$/);
});

test('log entries reach the topic as messages with the configured key: JSON entries, log_format, origin', async () => {
  broker = await startKafkaBroker({ partitions: 3 });
  const brokers = [{ host: '127.0.0.1', port: broker.port }];
  const sync = { brokers, producer_type: 'sync', inactive_timeout: 1 };
  const formatted = prepareWith(plugin, { ...sync, kafka_topic: 'formatted', key: 'k1', batch_max_size: 2, log_format: { path: '$uri', id: '$arg_id' } });
  plugin.log!(formatted, createTestContext({ uri: '/a?id=1', routeId: 'r1' }));
  plugin.log!(formatted, createTestContext({ uri: '/b?id=2', routeId: 'r1' }));
  const origin = prepareWith(plugin, { ...sync, kafka_topic: 'origin', batch_max_size: 1, meta_format: 'origin' });
  plugin.log!(origin, createTestContext({ uri: '/raw', headers: { host: 'h' }, vars: { request: 'GET /raw HTTP/1.1' } }));
  const full = prepareWith(plugin, { ...sync, kafka_topic: 'full', batch_max_size: 1 });
  plugin.log!(full, createTestContext({ uri: '/full?x=y', routeId: 'r2', vars: { query_string: 'x=y' } }));
  await broker.waitForRecords(3);
  const on = (topic: string) => broker!.records.filter((r) => r.topic === topic);
  assert.equal(on('formatted').length, 1);
  assert.equal(on('formatted')[0]!.key!.toString(), 'k1');
  assert.deepEqual(JSON.parse(on('formatted')[0]!.value!.toString()),
    [{ path: '/a', id: '1', route_id: 'r1', service_id: '' }, { path: '/b', id: '2', route_id: 'r1', service_id: '' }]);
  assert.equal(on('origin')[0]!.key, null, 'no key configured, none sent');
  assert.equal(on('origin')[0]!.value!.toString(), 'GET /raw HTTP/1.1\r\nhost: h\r\n\r\n');
  const entry = JSON.parse(on('full')[0]!.value!.toString());
  assert.equal(entry.route_id, 'r2');
  assert.equal(entry.request.uri, '/full?x=y');
  assert.deepEqual(entry.request.querystring, { x: 'y' });
  assert.equal(entry.response.status, 200);
  assert.deepEqual(broker.protocolErrors, []);
});

test('unloading the plugin (a reload) sends what the async producers still buffer, then opens nothing more', async () => {
  const b = broker!;
  const lingering = prepareWith(plugin, { brokers: [{ host: '127.0.0.1', port: b.port }], kafka_topic: 'unload', batch_max_size: 1, producer_time_linger: 600 });
  plugin.log!(lingering, createTestContext({ uri: '/last', routeId: 'r3' }));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(b.records.filter((r) => r.topic === 'unload').length, 0, 'still lingering in the producer');
  await plugin.destroy!();
  assert.deepEqual(b.records.filter((r) => r.topic === 'unload').map((r) => json(r).route_id), ['r3']);
  // a batch retried after the unload finds the pool closed: refused, no new connection
  await assert.rejects(lingering.sink.send([{ late: true }]), /closed/);
});
