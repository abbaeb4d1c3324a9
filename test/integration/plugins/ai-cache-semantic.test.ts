import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { startFakeLlm, type FakeLlm } from '../../helpers/fake-llm.js';
import { startFakeEmbeddings, startFakeQdrant, type FakeEmbeddings, type FakeQdrant } from '../../helpers/fake-vector-services.js';
import { get } from '../../helpers/http.js';
import { metricValue } from '../../helpers/observe.js';
import { adminClient, type AdminCall } from '../admin/client.js';

let gw: Gateway;
let llm: FakeLlm;
let embeddings: FakeEmbeddings;
let qdrant: FakeQdrant;
let call: AdminCall;

const chat = (question: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ model: 'm', messages: [{ role: 'user', content: question }], ...extra });

function ask(route: string, body: string) {
  return get(`${gw.url}/${route}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
}

async function semanticRoute(id: string, vector: Record<string, unknown>): Promise<void> {
  const r = await call('PUT', `/routes/${id}`, {
    uri: `/${id}/*`,
    plugins: {
      'ai-cache': {
        embedding: { type: 'openai', serviceHost: '127.0.0.1', servicePort: embeddings.port, apiKey: 'sk-embed', model: 'embed-small' },
        vector,
      },
      'ai-proxy': { provider: 'openai-compatible', auth: { header: { authorization: 'Bearer sk' } }, override: { endpoint: `${llm.url}/v1/chat/completions` } },
    },
  });
  assert.ok(r.status === 200 || r.status === 201, r.text);
  await eventually(async () => (await ask(id, chat('probe'))).status === 200);
}

/** Asks the first question until it is stored, then a paraphrase: from the cache, without a model call. */
async function paraphraseHits(route: string): Promise<void> {
  await ask(route, chat('What is the capital of France?'));
  await eventually(async () => (await ask(route, chat('Tell me the capital city of France'))).json().id === 'from-cache');
  const calls = llm.requests.length;
  const hit = await ask(route, chat('France: which city is its capital?', { stream: true }));
  assert.match(hit.headers['content-type'] as string, /^text\/event-stream/);
  assert.match(hit.body, /"content":"Rome or Paris"/);
  assert.equal(llm.requests.length, calls);
  const other = await ask(route, chat('What is the capital of Italy?'));
  assert.equal(other.json().id, 'chatcmpl-fake', 'a question on another topic is not near enough');
}

before(async () => {
  llm = await startFakeLlm({ answer: 'Rome or Paris' });
  embeddings = await startFakeEmbeddings();
  qdrant = await startFakeQdrant(['answers'], 'qd-key');
  gw = await startGateway({ store: 'sqlite', workers: 1 });
  call = adminClient(gw);
});

after(async () => {
  await gw?.stop();
  await llm?.close();
  await embeddings?.close();
  await qdrant?.close();
});

test('semantic, memory index: a paraphrase within the cosine distance threshold is a hit', async () => {
  await semanticRoute('semmem', { type: 'memory', threshold: 0.1, thresholdRelation: 'lt' });
  await paraphraseHits('semmem');
  assert.ok(embeddings.inputs.includes('What is the capital of France?'), 'the normalised question is embedded');
  const before = embeddings.inputs.length;
  await ask('semmem', chat('What is the weather in Paris?'));
  await eventually(() => embeddings.inputs.length === before + 1);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(embeddings.inputs.length, before + 1, 'a miss embeds its question once, for the search and the store');
});

test('semantic, Qdrant: points are upserted with question and answer, searched by score', async () => {
  await semanticRoute('semqd', { type: 'qdrant', serviceHost: '127.0.0.1', servicePort: qdrant.port, apiKey: 'qd-key', collectionID: 'answers', threshold: 0.9, thresholdRelation: 'gte', topK: 2 });
  await paraphraseHits('semqd');
  const stored = qdrant.points('answers').find((p) => p.payload.question === 'What is the capital of France?');
  assert.equal(stored?.payload.answer, 'Rome or Paris');
  const search = qdrant.requests.find((r) => r.url.endsWith('/points/search'))!;
  assert.equal(JSON.parse(search.body.toString()).limit, 2);
});

test('semantic: a vector store that fails is a miss, counted', async () => {
  await semanticRoute('semgone', { type: 'qdrant', serviceHost: '127.0.0.1', servicePort: qdrant.port, apiKey: 'qd-key', collectionID: 'missing', threshold: 0.9, thresholdRelation: 'gte' });
  const r = await ask('semgone', chat('What is the weather?'));
  assert.equal(r.json().id, 'chatcmpl-fake');
  await eventually(async () => await metricValue(gw, 'gatehouse_ai_cache_semantic_errors_total{route="semgone",stage="find"}') > 0);
});
