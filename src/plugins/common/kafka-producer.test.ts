import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KafkaProducer, KafkaProducerPool, RETRY_LIMIT, type KafkaOutMessage, type KafkaProducerSettings } from './kafka-producer.js';
import { API, KafkaError, kafkaTestScope, type KafkaBroker } from '../../../test/helpers/kafka-broker.js';
import { makeCert } from '../../../test/helpers/certs.js';

// The producer against the test broker: what each mode puts on the wire, its bounds,
// retries and drops, and the connection settings (SASL, TLS, metadata age).

const warnings: string[] = [];
const drops: number[] = [];
const hooks = {
  log: { warn: (_: object, msg: string) => { warnings.push(msg); }, error: () => undefined, debug: () => undefined },
  onDrop: (n: number) => { drops.push(n); },
};

const { broker, defer } = kafkaTestScope();

function settings(b: KafkaBroker, over: Partial<KafkaProducerSettings> = {}): KafkaProducerSettings {
  return {
    brokers: [b.address], sasl: undefined, tls: undefined, timeoutMs: 2000, requiredAcks: 1, producerType: 'sync', clusterName: 1,
    batchNum: 200, batchSize: 1048576, maxBuffering: 50000, lingerMs: 60_000, metadataMaxAgeMs: 30_000, ...over,
  };
}

function producer(s: KafkaProducerSettings): KafkaProducer {
  const p = new KafkaProducer(s, hooks);
  defer(() => p.close(0));
  return p;
}

const msg = (value: string, over: Partial<KafkaOutMessage> = {}): KafkaOutMessage => ({ topic: 'logs', key: undefined, value, entries: 1, ...over });

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), `${what}: not in time`);
}

test('sync: a send resolves once the broker acknowledged it, with required_acks and the timeout on the wire', async () => {
  const b = await broker();
  const p = producer(settings(b, { requiredAcks: -1, timeoutMs: 1500 }));
  await p.send(msg('{"a":1}', { key: 'route-1' }));
  assert.equal(b.records.length, 1, 'acknowledged means appended');
  assert.deepEqual([b.records[0]!.topic, b.records[0]!.key!.toString(), b.records[0]!.value!.toString()], ['logs', 'route-1', '{"a":1}']);
  assert.deepEqual(b.produceRequests.map((r) => [r.acks, r.timeoutMs]), [[-1, 1500]]);
  assert.deepEqual(b.protocolErrors, []);
});

test('async: messages wait until producer_batch_num of them are buffered, then go in one Produce request', async () => {
  const b = await broker();
  const p = producer(settings(b, { producerType: 'async', batchNum: 3 }));
  await p.send(msg('1'));
  await p.send(msg('2', { topic: 'other' }));
  assert.equal(p.buffered, 2);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(b.produceRequests.length, 0, 'nothing sent before the batch is full or the linger passed');
  await p.send(msg('3'));
  await b.waitForRecords(3);
  assert.equal(b.produceRequests.length, 1);
  assert.deepEqual(b.records.map((r) => [r.topic, r.value!.toString()]).sort(), [['logs', '1'], ['logs', '3'], ['other', '2']]);
});

test('async: producer_batch_size bytes also end a request; producer_time_linger sends what is left', async () => {
  const b = await broker();
  const p = producer(settings(b, { producerType: 'async', batchSize: 10, lingerMs: 100 }));
  await p.send(msg('123456'));
  await p.send(msg('789012'));
  await p.send(msg('tail'));
  await b.waitForRecords(3);
  assert.deepEqual(b.produceRequests.map((r) => r.records), [1, 2], 'the first request stops before 10 bytes are passed; the rest follows after the linger');
});

test('async: a full buffer refuses with "buffer overflow"', async () => {
  const b = await broker();
  const p = producer(settings(b, { producerType: 'async', maxBuffering: 2 }));
  await p.send(msg('1'));
  await p.send(msg('2'));
  await assert.rejects(p.send(msg('3')), /buffer overflow/);
});

test('async: a failed flush is retried with back-off, then delivered once', async () => {
  const b = await broker();
  const p = producer(settings(b, { producerType: 'async', lingerMs: 1 }));
  b.failProduce(KafkaError.TOPIC_AUTHORIZATION_FAILED, 2);
  await p.send(msg('once'));
  await b.waitForRecords(1);
  assert.equal(b.produceRequests.length, 3);
  assert.deepEqual(b.records.map((r) => r.value!.toString()), ['once']);
});

test(`async: after ${RETRY_LIMIT} retries a message is dropped and counted; while failing, new messages are refused`, async () => {
  const b = await broker();
  const p = producer(settings(b, { producerType: 'async', lingerMs: 1 }));
  drops.length = 0;
  warnings.length = 0;
  b.failProduce(KafkaError.TOPIC_AUTHORIZATION_FAILED, RETRY_LIMIT + 1);
  await p.send(msg('doomed', { entries: 7 }));
  await until(() => b.produceRequests.length >= 1, 'first attempt');
  await assert.rejects(p.send(msg('refused')), /kafka producer failing/);
  await until(() => drops.length > 0, 'drop');
  assert.deepEqual(drops, [7]);
  assert.equal(b.produceRequests.length, RETRY_LIMIT + 1);
  assert.equal(b.records.length, 0);
  assert.match(warnings[0]!, /Kafka producer\[127\.0\.0\.1:\d+\] 1 failed send\(s\), last error: .*authoriz/i);
  // the buffer is empty again: the next message goes through
  await p.send(msg('after'));
  await b.waitForRecords(1);
  assert.equal(b.records[0]!.value!.toString(), 'after');
});

test('async: with the broker down, only the message being retried is kept; the rest is dropped and counted', async () => {
  const b = await broker();
  const p = producer(settings(b, { producerType: 'async', batchNum: 1, lingerMs: 1, timeoutMs: 500 }));
  drops.length = 0;
  await b.stop();
  for (let i = 0; i < 5; i++) await p.send(msg(`m${i}`, { entries: 10 }));
  await until(() => drops.length > 0, 'drop after the broker counts as down');
  assert.equal(p.buffered, 1);
  assert.equal(drops.reduce((a, n) => a + n, 0), 40);
  await b.start();
  await b.waitForRecords(1);
  assert.deepEqual(b.records.map((r) => r.value!.toString()), ['m0']);
});

test('sync: a send fails while the broker is stopped, and the same producer delivers once it is back', async () => {
  const b = await broker();
  const p = producer(settings(b, { timeoutMs: 500 }));
  await p.send(msg('before'));
  await b.stop();
  await assert.rejects(p.send(msg('lost')));
  await b.start();
  await p.send(msg('after'));
  assert.deepEqual(b.records.map((r) => r.value!.toString()), ['before', 'after']);
});

test('close sends what is buffered, then disconnects; what cannot be sent is dropped and counted', async () => {
  const b = await broker();
  const p = new KafkaProducer(settings(b, { producerType: 'async' }), hooks);
  await p.send(msg('buffered'));
  await p.close(2000);
  assert.deepEqual(b.records.map((r) => r.value!.toString()), ['buffered']);
  await assert.rejects(p.send(msg('late')), /closed/);

  drops.length = 0;
  const q = new KafkaProducer(settings(b, { producerType: 'async', timeoutMs: 300 }), hooks);
  await b.stop();
  await q.send(msg('stuck', { entries: 3 }));
  await q.close(200);
  assert.deepEqual(drops, [3]);
});

test('metadata older than meta_refresh_interval is fetched again before a send', async () => {
  const b = await broker();
  const p = producer(settings(b, { metadataMaxAgeMs: 100 }));
  const metadataRequests = (): number => b.requests.filter((r) => r.apiKey === API.Metadata).length;
  await p.send(msg('1'));
  const first = metadataRequests();
  await p.send(msg('2'));
  assert.equal(metadataRequests(), first, 'fresh metadata is reused');
  await new Promise((r) => setTimeout(r, 150));
  await p.send(msg('3'));
  assert.ok(metadataRequests() > first, 'stale metadata is fetched again');
});

for (const mechanism of ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const) {
  test(`SASL ${mechanism} signs in with the configured user; a wrong password fails the send`, async () => {
    const b = await broker({ sasl: { users: { logger: 's3cret' } } });
    await producer(settings(b, { sasl: { mechanism, user: 'logger', password: 's3cret' } })).send(msg('in'));
    assert.deepEqual(b.authenticated, [{ user: 'logger', mechanism }]);
    await assert.rejects(producer(settings(b, { sasl: { mechanism, user: 'logger', password: 'nope' }, timeoutMs: 500 })).send(msg('out')));
    assert.deepEqual(b.records.map((r) => r.value!.toString()), ['in']);
  });
}

test('TLS: verify false accepts a self-signed broker, verify true refuses it', async () => {
  const b = await broker({ tls: makeCert(['localhost']) });
  await producer(settings(b, { tls: { verify: false } })).send(msg('tls'));
  assert.equal(b.records[0]!.value!.toString(), 'tls');
  await assert.rejects(producer(settings(b, { tls: { verify: true }, timeoutMs: 500 })).send(msg('refused')), /certificate/i);
  assert.equal(b.records.length, 1);
});

test('the pool shares one producer per brokers and settings; another cluster_name gets its own', async () => {
  const b = await broker();
  const pool = new KafkaProducerPool(hooks);
  defer(() => pool.closeAll(0));
  const one = pool.get(settings(b));
  assert.equal(pool.get(settings(b)), one);
  assert.notEqual(pool.get(settings(b, { clusterName: 2 })), one);
  assert.equal(pool.size, 2);
  await one.send(msg('shared'));
  await pool.closeAll(1000);
  assert.equal(pool.size, 0);
  await assert.rejects(one.send(msg('after close')), /closed/);
  assert.throws(() => pool.get(settings(b)), /closed/, 'a closed pool opens no new producer');
});
