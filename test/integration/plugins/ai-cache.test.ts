import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { startFakeLlm, type FakeLlm } from '../../helpers/fake-llm.js';
import { get } from '../../helpers/http.js';
import { logEntry, metricValue } from '../../helpers/observe.js';
import { redisMissing, startRedis, type TestRedis } from '../../helpers/redis-server.js';
import { adminClient, type AdminCall } from '../admin/client.js';

let gw: Gateway;
let llm: FakeLlm;
let call: AdminCall;
let redis: TestRedis | undefined;

const noRedis = redisMissing();

function chat(question: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ model: 'm', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: question }], ...extra });
}

function ask(route: string, body: string, headers: Record<string, string> = {}) {
  return get(`${gw.url}/${route}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
}

async function cacheRoute(id: string, conf: Record<string, unknown>): Promise<void> {
  const r = await call('PUT', `/routes/${id}`, {
    uri: `/${id}/*`,
    plugins: {
      'ai-cache': conf,
      'ai-proxy': { provider: 'openai-compatible', auth: { header: { authorization: 'Bearer sk' } }, override: { endpoint: `${llm.url}/v1/chat/completions` } },
      'file-logger': { path: `${id}.log`, log_format: { uri: '$request_uri', cache: '$ai_cache_status' } },
    },
  });
  assert.ok(r.status === 200 || r.status === 201, r.text);
  await eventually(async () => (await ask(id, chat('probe'), { 'x-higress-skip-ai-cache': 'on' })).status === 200);
}

/** Asks until the answer comes from the cache (the store is written after the answer went out). */
async function untilHit(route: string, body: string): Promise<void> {
  await eventually(async () => {
    const r = await ask(route, body);
    return r.status === 200 && (r.json() as { id?: string }).id === 'from-cache';
  });
}

before(async () => {
  llm = await startFakeLlm({ answer: 'Paris is the "capital"\nof France' });
  if (noRedis === undefined) redis = await startRedis();
  gw = await startGateway({ store: 'sqlite', workers: 2 });
  call = adminClient(gw);
  await cacheRoute('mem', { cache: { type: 'memory', cacheTTL: 60 } });
});

after(async () => {
  await gw?.stop();
  await llm?.close();
  await redis?.close();
});

test('memory: a miss goes to the model, then the same (normalised) question is answered from the node table by every worker', async () => {
  const before = llm.requests.length;
  const first = await ask('mem', chat('What is the capital of France?'));
  assert.equal(first.status, 200);
  assert.equal(first.json().id, 'chatcmpl-fake');
  assert.equal(llm.requests.length, before + 1);
  await untilHit('mem', chat('  What is   the capital of France? '));
  const calls = llm.requests.length;
  for (let i = 0; i < 6; i++) { // round-robin over both workers
    const r = await ask('mem', chat('What is the capital of France?'));
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'] as string, /^application\/json; charset=utf-8/);
    const body = r.json();
    assert.equal(body.id, 'from-cache');
    assert.equal(body.object, 'chat.completion');
    assert.equal(body.choices[0].message.content, 'Paris is the "capital"\nof France', 'the answer is JSON-escaped into the template');
  }
  assert.equal(llm.requests.length, calls, 'hits never reach the model');
  const log = join(gw.dir, 'data', 'logs', 'mem.log');
  assert.equal((await logEntry(log, 'cache', 'hit')).uri, '/mem/v1/chat/completions');
  assert.ok(await metricValue(gw, 'gatehouse_ai_cache_lookups_total{route="mem",status="hit"}') >= 6);
  assert.ok(await metricValue(gw, 'gatehouse_ai_cache_stored_total{route="mem"}') >= 1);
});

test('a streamed answer is stored joined, and a hit asked with stream:true is replayed as an event stream', async () => {
  await ask('mem', chat('Name a French city', { stream: true }));
  await untilHit('mem', chat('Name a French city'));
  const hit = await ask('mem', chat('Name a French city', { stream: true }));
  assert.equal(hit.status, 200);
  assert.match(hit.headers['content-type'] as string, /^text\/event-stream; charset=utf-8/);
  const events = hit.body.split('\n\n').filter((e) => e !== '');
  assert.equal(events.at(-1), 'data:[DONE]');
  const chunk = JSON.parse(events[0]!.slice('data:'.length));
  assert.equal(chunk.choices[0].delta.content, 'Paris is the "capital" of France', 'the streamed words, joined as they came');
});

test('the skip header and a missing question skip the cache; failed and tool-call answers are not stored', async () => {
  const n = llm.requests.length;
  await ask('mem', chat('What is the capital of France?'), { 'x-higress-skip-ai-cache': 'on' });
  assert.equal(llm.requests.length, n + 1, 'skipped: the model answers');
  const log = join(gw.dir, 'data', 'logs', 'mem.log');
  await logEntry(log, 'cache', 'skip');
  const anthropic = await get(`${gw.url}/mem/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chat('What is the capital of France?') });
  assert.equal(anthropic.status, 400, 'not answered from the cache: ai-proxy refuses the protocol it does not serve');
  assert.doesNotMatch(anthropic.body, /from-cache/);

  llm.queue({ status: 500, body: { error: { message: 'down' } } });
  assert.equal((await ask('mem', chat('failing question'))).status, 500);
  llm.queue({ status: 200, body: { id: 't', choices: [{ index: 0, message: { role: 'assistant', content: 'calling', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }] }, finish_reason: 'tool_calls' }] } });
  assert.equal((await ask('mem', chat('tool question'))).status, 200);
  await new Promise((r) => setTimeout(r, 200));
  for (const q of ['failing question', 'tool question']) {
    const r = await ask('mem', chat(q));
    assert.equal(r.json().id, 'chatcmpl-fake', `${q}: not cached`);
  }
});

test('a route whose upstream is the model itself (no ai-proxy) is cached too', async () => {
  const port = new URL(llm.url).port;
  const r = await call('PUT', '/routes/plain', {
    uri: '/plain/*', plugins: { 'ai-cache': { cache: { type: 'memory', cacheKeyPrefix: 'plain:' }, cacheKeyStrategy: 'allQuestions' } },
    upstream: { nodes: { [`127.0.0.1:${port}`]: 1 } },
  });
  assert.ok(r.status === 200 || r.status === 201, r.text);
  const asked = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'first' }, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'second' }], stream: true });
  await eventually(async () => (await ask('plain', asked)).status === 200);
  await untilHit('plain', asked.replace('"stream":true', '"stream":false'));
  const other = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'second' }] });
  assert.equal((await ask('plain', other)).json().id, 'chatcmpl-fake', 'allQuestions: every user message is the key');
});

test('bad configurations are refused naming the field', async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{}, /cache/],
    [{ cache: { type: 'memcached' } }, /type/],
    [{ cache: { type: 'memory', serviceHost: 'x' } }, /cache\.serviceHost/],
    [{ cache: { type: 'redis' } }, /cache\.serviceHost/],
    [{ cache: { type: 'redis', serviceName: 'redis.static' } }, /cache\.serviceName/],
    [{ cache: { type: 'memory' }, responseTemplate: '{}' }, /responseTemplate/],
    [{ cache: { type: 'memory' }, cacheKeyFrom: 'messages.#.content' }, /cacheKeyFrom/],
    [{ cache: { type: 'memory' }, cacheToolCallsFrom: 'x' }, /cacheToolCallsFrom/],
    [{ cache: { type: 'memory' }, embedding: { type: 'dashscope', serviceHost: 'h' }, vector: { type: 'memory', threshold: 0.1 } }, /embedding\.type/],
    [{ cache: { type: 'memory' }, embedding: { type: 'openai', serviceHost: 'h' }, vector: { type: 'milvus', threshold: 0.1 } }, /vector\.type/],
    [{ cache: { type: 'memory' }, embedding: { type: 'openai', serviceHost: 'h' }, vector: { type: 'qdrant', threshold: 0.1 } }, /vector\.serviceHost/],
    [{ cache: { type: 'memory' }, enableSemanticCache: true }, /embedding/],
  ];
  for (const [conf, field] of cases) {
    const r = await call('PUT', '/routes/bad', { uri: '/bad', plugins: { 'ai-cache': conf }, upstream: { nodes: { '127.0.0.1:1': 1 } } });
    assert.equal(r.status, 400, JSON.stringify(conf));
    assert.match(r.body.error_msg, field, JSON.stringify(conf));
  }
});

test('redis: answers are stored under prefix + question with the TTL, and found by any node', { skip: noRedis }, async () => {
  await cacheRoute('red', { cache: { type: 'redis', serviceHost: '127.0.0.1', servicePort: redis!.port, cacheTTL: 300, cacheKeyPrefix: 'gh:' } });
  await ask('red', chat('Capital  of Italy?'));
  await eventually(async () => (await redis!.cli('GET', 'gh:Capital of Italy?')).trim() !== '');
  assert.equal((await redis!.cli('GET', 'gh:Capital of Italy?')).replace(/\n$/, ''), 'Paris is the "capital"\nof France');
  const ttl = Number(await redis!.cli('TTL', 'gh:Capital of Italy?'));
  assert.ok(ttl > 200 && ttl <= 300, String(ttl));
  await redis!.cli('SET', 'gh:Planted question', 'planted answer');
  const r = await ask('red', chat('Planted question'));
  assert.equal(r.json().choices[0].message.content, 'planted answer');
});

test('redis down: a lookup is a miss (the model answers) and the failure is counted', { skip: noRedis }, async () => {
  await cacheRoute('reddown', { cache: { type: 'redis', serviceHost: '127.0.0.1', servicePort: 1, timeout: 300 } });
  const r = await ask('reddown', chat('anything'));
  assert.equal(r.status, 200);
  assert.equal(r.json().id, 'chatcmpl-fake');
  await eventually(async () => await metricValue(gw, 'gatehouse_ai_cache_store_errors_total{store="redis"}') > 0);
});
