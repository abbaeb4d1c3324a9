import { test } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs, { type KafkaConfig, type Producer } from 'kafkajs';
import { API, KafkaError, kafkaTestScope, type KafkaBroker } from './kafka-broker.js';
import { crc32c } from './kafka-wire.js';
import { makeCert } from './certs.js';

// The test broker against a real client (kafkajs): what kafkajs sends is what the broker
// records, every version kafkajs picks is one the broker implements, and SASL, TLS,
// injected errors and restarts behave as a Kafka broker's do.

const { Kafka, logLevel, CompressionTypes } = kafkajs;

const { broker, defer } = kafkaTestScope();

async function producer(b: KafkaBroker, extra: Partial<KafkaConfig> = {}): Promise<Producer> {
  const kafka = new Kafka({
    clientId: 'broker-test', brokers: [b.address], logLevel: logLevel.NOTHING,
    retry: { retries: 1, initialRetryTime: 50, maxRetryTime: 200 }, connectionTimeout: 1000, requestTimeout: 2000, ...extra,
  });
  const p = kafka.producer({ allowAutoTopicCreation: true });
  defer(() => p.disconnect());
  await p.connect();
  return p;
}

test('CRC-32C matches the check value of the Castagnoli polynomial', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
});

test('records kafkajs produces arrive with topic, partition, key, value and headers, at the versions a real broker would be spoken to', async () => {
  const b = await broker({ topicPartitions: { three: 3 } });
  const p = await producer(b);
  const sent = await p.send({
    topic: 'three', acks: -1, timeout: 1234,
    messages: [
      { key: 'k1', value: 'first', headers: { trace: 'abc', empty: '' } },
      { key: null, value: Buffer.from([0, 1, 2, 255]), partition: 2 },
      { key: 'k3', value: null },
    ],
  });
  assert.equal(b.records.length, 3);
  assert.deepEqual(b.protocolErrors, []);
  const byValue = (v: string | null): (typeof b.records)[number] => b.records.find((r) => (r.value?.toString('latin1') ?? null) === v)!;
  const first = byValue('first');
  assert.equal(first.topic, 'three');
  assert.equal(first.key!.toString(), 'k1');
  assert.deepEqual(first.headers.map((h) => [h.key, h.value!.toString()]), [['trace', 'abc'], ['empty', '']]);
  assert.equal(byValue('\x00\x01\x02\xff').partition, 2);
  assert.equal(byValue('\x00\x01\x02\xff').key, null);
  assert.equal(byValue(null).key!.toString(), 'k3');
  // kafkajs reports each partition's base offset: the broker's log offsets agree
  for (const meta of sent) {
    const inPartition = b.records.filter((r) => r.partition === meta.partition);
    assert.equal(String(inPartition[0]!.offset), meta.baseOffset);
  }
  assert.ok(Math.abs(Number(first.timestamp) - Date.now()) < 60_000);
  assert.deepEqual(b.produceRequests.map((r) => [r.version, r.acks, r.timeoutMs]), [[7, -1, 1234]]);
  const versions = (api: number): number[] => [...new Set(b.requests.filter((r) => r.apiKey === api).map((r) => r.version))];
  assert.deepEqual(versions(API.ApiVersions), [2]);
  assert.deepEqual(versions(API.Metadata), [6]);
  assert.equal(b.requests[0]!.clientId, 'broker-test');
});

test('gzip record batches are decoded', async () => {
  const b = await broker();
  const p = await producer(b);
  await p.send({ topic: 'zipped', compression: CompressionTypes.GZIP, messages: [{ value: 'a'.repeat(1000) }, { value: 'b' }] });
  assert.deepEqual(b.records.map((r) => [r.compression, r.value!.length]), [[1, 1000], [1, 1]]);
});

test('an injected error code fails the send; a dropped connection is retried by the client and appended once', async () => {
  const b = await broker();
  const p = await producer(b);
  b.failProduce(KafkaError.TOPIC_AUTHORIZATION_FAILED);
  await assert.rejects(p.send({ topic: 'denied', messages: [{ value: 'x' }] }), /authoriz/i);
  assert.equal(b.records.length, 0);
  b.dropOnProduce();
  await p.send({ topic: 'dropped', messages: [{ value: 'y' }] });
  assert.deepEqual(b.records.map((r) => r.value!.toString()), ['y']);
  assert.equal(b.produceRequests.length, 3);
});

test('stopped, the broker refuses connections; started again on the same port, the same producer delivers', async () => {
  const b = await broker();
  const p = await producer(b);
  await p.send({ topic: 'up', messages: [{ value: '1' }] });
  const port = b.port;
  await b.stop();
  await assert.rejects(p.send({ topic: 'up', messages: [{ value: '2' }] }));
  await b.start();
  assert.equal(b.port, port);
  await p.send({ topic: 'up', messages: [{ value: '3' }] });
  assert.deepEqual(b.records.map((r) => [r.value!.toString(), r.offset]), [['1', 0n], ['3', 1n]]);
});

for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512'] as const) {
  test(`SASL ${mechanism}: the right password authenticates, a wrong one is refused before anything is produced`, async () => {
    const b = await broker({ sasl: { users: { alice: 'pa,ss=word' } } });
    const p = await producer(b, { sasl: { mechanism, username: 'alice', password: 'pa,ss=word' } as KafkaConfig['sasl'] });
    await p.send({ topic: 'secured', messages: [{ value: 'in' }] });
    assert.deepEqual(b.authenticated, [{ user: 'alice', mechanism: mechanism.toUpperCase() }]);
    const kafka = new Kafka({ brokers: [b.address], logLevel: logLevel.NOTHING, retry: { retries: 0 },
      sasl: { mechanism, username: 'alice', password: 'wrong' } as KafkaConfig['sasl'] });
    const bad = kafka.producer();
    await assert.rejects(bad.connect(), /SASL|authentication/i);
    assert.deepEqual(b.records.map((r) => r.value!.toString()), ['in']);
    assert.deepEqual(b.protocolErrors, []);
  });
}

test('without SASL, a client asking for it is told the mechanism is unsupported', async () => {
  const b = await broker();
  const kafka = new Kafka({ brokers: [b.address], logLevel: logLevel.NOTHING, retry: { retries: 0 },
    sasl: { mechanism: 'plain', username: 'u', password: 'p' } });
  await assert.rejects(kafka.producer().connect(), /does not support the requested SASL mechanism/);
});

test('TLS: the broker serves its certificate; a client that verifies it against an unknown issuer fails', async () => {
  const cert = makeCert(['localhost']);
  const b = await broker({ tls: cert });
  const p = await producer(b, { ssl: { rejectUnauthorized: false } });
  await p.send({ topic: 'tls', messages: [{ value: 'secret' }] });
  assert.equal(b.records[0]!.value!.toString(), 'secret');
  const strict = new Kafka({ brokers: [b.address], logLevel: logLevel.NOTHING, retry: { retries: 0 }, ssl: { rejectUnauthorized: true } });
  await assert.rejects(strict.producer().connect(), /certificate/i);
  const trusting = new Kafka({ brokers: [b.address], logLevel: logLevel.NOTHING, retry: { retries: 0 }, ssl: { ca: [cert.cert], servername: 'localhost' } });
  const ok = trusting.producer();
  defer(() => ok.disconnect());
  await ok.connect();
  await ok.send({ topic: 'tls', messages: [{ value: 'verified' }] });
  assert.equal(b.records[1]!.value!.toString(), 'verified');
});
