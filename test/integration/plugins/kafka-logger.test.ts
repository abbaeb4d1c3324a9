import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, eventually, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { startKafkaBroker, type KafkaBroker, type ProducedRecord } from '../../helpers/kafka-broker.js';
import { makeCert } from '../../helpers/certs.js';
import { get } from '../../helpers/http.js';

// kafka-logger in the real gateway against the test Kafka broker (no real Kafka here):
// what arrives on the topics (key, JSON value, log_format, plugin metadata, origin,
// bodies with caps), SASL PLAIN with the password kept out of the log, TLS, and a broker
// that goes away and comes back without a request noticing.

const PASSWORD = 'kafka-pa55word-never-logged';
const WRONG_PASSWORD = 'wrong-pa55word-never-logged';

let gw: Gateway;
let up: TestUpstream;
let plain: KafkaBroker;
let secured: KafkaBroker;
let tlsBroker: KafkaBroker;
let flaky: KafkaBroker;

const at = (b: KafkaBroker): { host: string; port: number }[] => [{ host: '127.0.0.1', port: b.port }];

function config(withMetadata: boolean): Record<string, unknown> {
  const upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
  const route = (id: string, plugin: Record<string, unknown>): Record<string, unknown> =>
    ({ id, uri: `/${id}`, upstream, plugins: { 'kafka-logger': { batch_max_size: 1, ...plugin } } });
  return {
    ...(withMetadata ? { plugin_metadata: [{ id: 'kafka-logger', log_format: { from: 'metadata', client: '$remote_addr', path: '$uri' } }] } : {}),
    routes: [
      { id: 'ready', uri: '/ready', upstream },
      route('full', { brokers: at(plain), kafka_topic: 'full', key: 'full-key' }),
      route('formatted', { brokers: at(plain), kafka_topic: 'formatted', producer_type: 'sync', batch_max_size: 2,
        log_format: { path: '$uri', id: '$arg_id', agent: '$http_user_agent', line: '$request_method $uri' } }),
      route('origin', { brokers: at(plain), kafka_topic: 'origin', meta_format: 'origin', include_req_body: true, max_req_body_bytes: 5 }),
      route('bodies', { brokers: at(plain), kafka_topic: 'bodies', producer_type: 'sync', include_req_body: true, max_req_body_bytes: 4,
        include_resp_body: true, max_resp_body_bytes: 10, include_resp_body_expr: [['arg_resp', '==', 'yes']] }),
      route('sasl', { brokers: [{ ...at(secured)[0], sasl_config: { mechanism: 'PLAIN', user: 'gatehouse', password: PASSWORD } }], kafka_topic: 'secured' }),
      route('sasl-wrong', { brokers: [{ ...at(secured)[0], sasl_config: { user: 'gatehouse', password: WRONG_PASSWORD } }], kafka_topic: 'secured', timeout: 1 }),
      route('tls', { brokers: at(tlsBroker), kafka_topic: 'tls', tls: { verify: false } }),
      route('down-sync', { brokers: at(flaky), kafka_topic: 'flaky', producer_type: 'sync', timeout: 1, retry_delay: 0 }),
      route('down-async', { brokers: at(flaky), kafka_topic: 'flaky', timeout: 1, retry_delay: 0 }),
    ],
  };
}

before(async () => {
  up = await startUpstream('a');
  plain = await startKafkaBroker({ partitions: 2 });
  secured = await startKafkaBroker({ sasl: { users: { gatehouse: PASSWORD }, mechanisms: ['PLAIN'] } });
  tlsBroker = await startKafkaBroker({ tls: makeCert(['localhost']) });
  flaky = await startKafkaBroker();
  // debug: kafkajs's own lines are logged at debug, and the password must not be in them either
  gw = await startGateway({ workers: 1, logLevel: 'debug', config: {} });
  await gw.writeConfig(config(false));
  await eventually(async () => (await get(`${gw.url}/ready`)).status === 200);
});

after(async () => {
  await gw?.stop();
  await up?.close();
  for (const b of [plain, secured, tlsBroker, flaky]) await b?.stop();
});

/** The records on `topic` once there are at least `n` of them (bounded wait). */
async function recordsOn(b: KafkaBroker, topic: string, n: number): Promise<ProducedRecord[]> {
  const on = (): ProducedRecord[] => b.records.filter((r) => r.topic === topic);
  await eventually(() => on().length >= n, 100, 50);
  return on();
}

const json = (r: ProducedRecord): any => JSON.parse(r.value!.toString());

test('the default entry arrives as one JSON message per batch, with the configured key', async () => {
  assert.equal((await get(`${gw.url}/full?q=1`, { headers: { 'x-trace': 't1' } })).status, 200);
  const [rec] = await recordsOn(plain, 'full', 1);
  assert.equal(rec!.key!.toString(), 'full-key');
  const entry = json(rec!);
  assert.equal(entry.route_id, 'full');
  assert.equal(entry.request.uri, '/full?q=1');
  assert.equal(entry.request.method, 'GET');
  assert.equal(entry.request.headers['x-trace'], 't1');
  assert.deepEqual(entry.request.querystring, { q: '1' });
  assert.equal(entry.response.status, 200);
  assert.equal(entry.upstream, `127.0.0.1:${up.port}`);
  assert.equal(entry.client_ip, '127.0.0.1');
  assert.equal(typeof entry.latency, 'number');
  assert.deepEqual(plain.protocolErrors, []);
});

test('log_format with variables; batch_max_size 2 makes one message holding a JSON array', async () => {
  await get(`${gw.url}/formatted?id=1`, { headers: { 'user-agent': 'ua-1' } });
  await get(`${gw.url}/formatted?id=2`, { headers: { 'user-agent': 'ua-2' } });
  const [rec] = await recordsOn(plain, 'formatted', 1);
  assert.equal(rec!.key, null);
  assert.deepEqual(json(rec!), [
    { path: '/formatted', id: '1', agent: 'ua-1', line: 'GET /formatted', route_id: 'formatted', service_id: '' },
    { path: '/formatted', id: '2', agent: 'ua-2', line: 'GET /formatted', route_id: 'formatted', service_id: '' },
  ]);
});

test('meta_format origin: the raw request as text, its body capped by max_req_body_bytes', async () => {
  const r = await get(`${gw.url}/origin?a=b`, { method: 'POST', body: 'payload-body', headers: { 'x-raw': 'yes' } });
  assert.equal(r.status, 200);
  assert.equal((r.json() as { body: string }).body, 'payload-body', 'the upstream still gets the whole body');
  const [rec] = await recordsOn(plain, 'origin', 1);
  const text = rec!.value!.toString();
  assert.match(text, /^POST \/origin\?a=b HTTP\/1\.1\r\n/);
  assert.match(text, /\r\nx-raw: yes\r\n/);
  assert.ok(text.endsWith('\r\n\r\npaylo'), JSON.stringify(text));
});

test('include_req_body / include_resp_body with their caps; include_resp_body_expr picks the requests', async () => {
  const logged = await get(`${gw.url}/bodies?resp=yes`, { method: 'POST', body: 'request-text' });
  await get(`${gw.url}/bodies?resp=no`, { method: 'POST', body: 'other' });
  const [first, second] = await recordsOn(plain, 'bodies', 2);
  assert.equal(json(first!).request.body, 'requ');
  assert.equal(json(first!).response.body, logged.body.slice(0, 10));
  assert.equal(json(second!).request.body, 'othe');
  assert.equal(json(second!).response.body, undefined);
});

test('SASL PLAIN signs in as the configured user; a wrong password delivers nothing, fails no request, and no password is logged', async () => {
  assert.equal((await get(`${gw.url}/sasl`)).status, 200);
  const [rec] = await recordsOn(secured, 'secured', 1);
  assert.equal(json(rec!).route_id, 'sasl');
  assert.deepEqual(secured.authenticated, [{ user: 'gatehouse', mechanism: 'PLAIN' }]);
  const from = gw.output().length;
  assert.equal((await get(`${gw.url}/sasl-wrong`)).status, 200);
  // async (the default): the producer reports its failed sends
  await gw.waitForOutput(/Kafka producer\[127\.0\.0\.1:\d+\] 1 failed send\(s\), last error: SASL PLAIN authentication failed/, from);
  assert.equal(secured.records.length, 1);
  const out = gw.output();
  assert.ok(!out.includes(PASSWORD) && !out.includes(WRONG_PASSWORD), 'a SASL password appears in the gateway output');
});

test('TLS: entries reach a broker that speaks TLS (tls.verify false accepts its self-signed certificate)', async () => {
  await get(`${gw.url}/tls`);
  const [rec] = await recordsOn(tlsBroker, 'tls', 1);
  assert.equal(json(rec!).route_id, 'tls');
});

/** Entries kafka-logger dropped so far, every reason. */
async function droppedEntries(): Promise<number> {
  const text = (await get(gw.metricsUrl)).body;
  return [...text.matchAll(/gatehouse_logger_dropped_total\{plugin="kafka-logger",reason="[a-z_]+"\} (\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
}

test('a broker that is down costs requests nothing: entries are dropped and counted, warnings stay few; once it is back, entries arrive again', async () => {
  const droppedBefore = await droppedEntries();
  const from = gw.output().length;
  await flaky.stop();
  const statuses = new Map<number, number>();
  for (let round = 0; round < 10; round++) {
    const batch = await Promise.all(['down-sync', 'down-async', 'down-sync', 'down-async'].map((p) => get(`${gw.url}/${p}`)));
    for (const r of batch) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
  }
  assert.deepEqual([...statuses], [[200, 40]]);
  await eventually(async () => {
    // requests keep coming: entries meet the producer and the processors while they back off
    await Promise.all(['down-sync', 'down-async'].map((p) => get(`${gw.url}/${p}`)));
    return await droppedEntries() > droppedBefore;
  }, 100, 100);
  assert.equal(flaky.records.length, 0);
  const warnings = gw.output().slice(from).split('\n').filter((l) => l.includes('"level":40') && l.includes('"plugin":"kafka-logger"'));
  assert.ok(warnings.some((l) => l.includes(`ECONNREFUSED 127.0.0.1:${flaky.port}`)), 'the failure is reported');
  // one line per reporter (two batch processors, the async producer) and 10 s interval
  assert.ok(warnings.length <= 6, `${warnings.length} warnings`);
  await flaky.start();
  // back-off is at most a few seconds after a short outage: new entries of both routes arrive
  await eventually(async () => {
    await Promise.all(['down-sync?after=1', 'down-async?after=1'].map((p) => get(`${gw.url}/${p}`)));
    const after = flaky.records.map((r) => json(r)).filter((e) => e.request.uri.endsWith('?after=1'));
    return new Set(after.map((e) => e.route_id)).size === 2;
  }, 150, 100);
  assert.deepEqual(flaky.protocolErrors, []);
});

test('plugin metadata log_format applies to every instance without its own', async () => {
  await gw.writeConfig(config(true));
  await eventually(async () => {
    await get(`${gw.url}/full?md=1`);
    return plain.records.filter((r) => r.topic === 'full').some((r) => json(r).from === 'metadata');
  }, 100, 100);
  const rec = plain.records.filter((r) => r.topic === 'full').find((r) => json(r).from === 'metadata')!;
  assert.deepEqual(json(rec), { from: 'metadata', client: '127.0.0.1', path: '/full', route_id: 'full', service_id: '' });
  assert.equal(rec.key!.toString(), 'full-key');
});
