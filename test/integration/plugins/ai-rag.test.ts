import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { startLoopbackServer, type LoopbackServer, type ReceivedRequest } from '../../helpers/loopback-server.js';
import { get, type SimpleResponse } from '../../helpers/http.js';
import { adminClient, routeTo, type AdminCall } from '../admin/client.js';
import { logEntry, metricValue } from '../../helpers/observe.js';
import { makeCert } from '../../helpers/certs.js';

// The services ai-rag calls, as loopback servers speaking their contracts: Azure OpenAI
// and OpenAI embeddings (a vector for the input), Azure AI Search (hits for a vector
// query). Inputs and field names starting with `fail`, `empty` or `slow` make them misbehave.
let gw: Gateway;
let up: TestUpstream;
let call: AdminCall;
let embeddings: LoopbackServer;
let search: LoopbackServer;
const received: { embeddings: ReceivedRequest[]; search: ReceivedRequest[] } = { embeddings: [], search: [] };

const VECTOR = [0.25, -0.5, 1];
const HITS = JSON.stringify({ value: [{ '@search.score': 0.9, content: 'Gatehouse listens on 9080.' }] });

function reply(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(body);
}

function answerEmbeddings(req: ReceivedRequest, res: ServerResponse): void {
  received.embeddings.push(req);
  const input = String(JSON.parse(req.body.toString()).input);
  if (input.startsWith('fail')) return reply(res, 429, '{"error":{"code":"429","message":"rate limited"}}');
  if (input.startsWith('empty')) return reply(res, 200, '{"data":[]}');
  if (input.startsWith('slow')) { setTimeout(() => reply(res, 200, '{}'), 1500); return; }
  reply(res, 200, JSON.stringify({ object: 'list', data: [{ object: 'embedding', index: 0, embedding: VECTOR }] }));
}

function answerSearch(req: ReceivedRequest, res: ServerResponse): void {
  received.search.push(req);
  const fields = String(JSON.parse(req.body.toString()).vectorQueries[0].fields);
  if (fields.startsWith('fail')) return reply(res, 403, '{"error":{"message":"bad key"}}');
  reply(res, 200, HITS);
}

const RAG = (embeddingsProvider: Record<string, unknown>): Record<string, unknown> => ({
  embeddings_provider: embeddingsProvider,
  vector_search_provider: { azure_ai_search: { endpoint: `${search.url}/indexes/docs/docs/search?api-version=2024-07-01`, api_key: 'search-key' } },
  timeout: 500,
});

const ask = (path: string, body: unknown): Promise<SimpleResponse> =>
  get(gw.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });

const question = (input: string, fields = 'contentVector', extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Which port?' }], ai_rag: { embeddings: { input }, vector_search: { fields } }, ...extra });

async function putRoute(id: string, uri: string, plugins: Record<string, unknown>): Promise<void> {
  const r = await call('PUT', `/routes/${id}`, { ...routeTo(uri, up.port), plugins });
  assert.equal(r.status, 201, r.text);
  await eventually(async () => (await ask(uri.replace('*', 'probe'), question('probe'))).status === 200);
}

before(async () => {
  embeddings = await startLoopbackServer(answerEmbeddings);
  search = await startLoopbackServer(answerSearch);
  up = await startUpstream('llm');
  gw = await startGateway({ store: 'sqlite', workers: 1 });
  call = adminClient(gw);
  await putRoute('rag', '/rag/*', {
    prometheus: {},
    'file-logger': { path: 'rag.log', log_format: { uri: '$request_uri', result: '$ai_rag_result', emb: '$ai_rag_embeddings_status',
      search: '$ai_rag_search_status', bytes: '$ai_rag_context_bytes' } },
    'ai-rag': RAG({ azure_openai: { endpoint: `${embeddings.url}/openai/deployments/emb/embeddings?api-version=2023-05-15`, api_key: 'emb-key' } }),
  });
  await putRoute('rag-openai', '/rago/*', {
    'ai-rag': RAG({ openai: { endpoint: `${embeddings.url}/v1/embeddings`, api_key: 'sk-test', model: 'text-embedding-3-small' } }),
  });
});

after(async () => {
  await gw?.stop();
  await up?.close();
  embeddings?.server.close();
  search?.server.close();
});

test('azure_openai + azure_ai_search: the search answer is appended to messages and ai_rag removed', async () => {
  received.embeddings.length = 0;
  received.search.length = 0;
  const r = await ask('/rag/v1/chat/completions', question('What port does Gatehouse use?'));
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(JSON.parse(r.json<{ body: string }>().body), {
    model: 'gpt-4o',
    messages: [{ role: 'user', content: 'Which port?' }, { role: 'user', content: HITS }],
  });
  const [emb] = received.embeddings;
  assert.equal(emb!.url, '/openai/deployments/emb/embeddings?api-version=2023-05-15');
  assert.equal(emb!.headers['api-key'], 'emb-key');
  assert.equal(emb!.headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(emb!.body.toString()), { input: 'What port does Gatehouse use?' });
  const [s] = received.search;
  assert.equal(s!.url, '/indexes/docs/docs/search?api-version=2024-07-01');
  assert.equal(s!.headers['api-key'], 'search-key');
  assert.deepEqual(JSON.parse(s!.body.toString()), { vectorQueries: [{ kind: 'vector', vector: VECTOR, fields: 'contentVector' }] });
});

test('openai embeddings (extension): bearer key and the configured model; a body without messages gets them', async () => {
  received.embeddings.length = 0;
  const r = await ask('/rago/v1/chat/completions', { ai_rag: { embeddings: { input: 'port?', model: 'client-choice' }, vector_search: { fields: 'v' } } });
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(JSON.parse(r.json<{ body: string }>().body), { messages: [{ role: 'user', content: HITS }] });
  const [emb] = received.embeddings;
  assert.equal(emb!.url, '/v1/embeddings');
  assert.equal(emb!.headers.authorization, 'Bearer sk-test');
  assert.equal(emb!.headers['api-key'], undefined);
  assert.deepEqual(JSON.parse(emb!.body.toString()), { input: 'port?', model: 'text-embedding-3-small' });
});

test('bad request bodies are answered 400 naming what is wrong, without calling the services', async () => {
  const calls = received.embeddings.length;
  for (const [body, reason] of [
    ['{"messages": [', 'could not parse JSON'],
    [{ model: 'gpt-4o', messages: [] }, '"ai_rag"'],
    [{ ai_rag: 'x' }, '"ai_rag" must be an object'],
    [{ ai_rag: { vector_search: { fields: 'v' } } }, 'ai_rag.embeddings'],
    [{ ai_rag: { embeddings: { input: 1 }, vector_search: { fields: 'v' } } }, 'ai_rag.embeddings.input'],
    [{ ai_rag: { embeddings: { input: 'x' } } }, 'ai_rag.vector_search'],
    [{ ai_rag: { embeddings: { input: 'x' }, vector_search: { fields: ['v'] } } }, 'ai_rag.vector_search.fields'],
    [{ messages: 'hi', ai_rag: { embeddings: { input: 'x' }, vector_search: { fields: 'v' } } }, '"messages"'],
  ] as const) {
    const r = await ask('/rag/v1/chat/completions', body);
    assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.body}`);
    assert.ok(r.json<{ error_msg: string }>().error_msg.includes(reason), r.body);
  }
  assert.equal(received.embeddings.length, calls);
});

test('non-200 answers of the services are passed through; no embedding is a 500, a timeout a 504', async () => {
  const limited = await ask('/rag/v1/chat/completions', question('fail please'));
  assert.equal(limited.status, 429);
  assert.equal(limited.body, '{"error":{"code":"429","message":"rate limited"}}');
  assert.match(String(limited.headers['content-type']), /application\/json/);
  const denied = await ask('/rag/v1/chat/completions', question('x', 'fail-field'));
  assert.equal(denied.status, 403);
  assert.equal(denied.body, '{"error":{"message":"bad key"}}');
  const empty = await ask('/rag/v1/chat/completions', question('empty'));
  assert.equal(empty.status, 500);
  assert.match(empty.json<{ error_msg: string }>().error_msg, /no embedding/);
  const slow = await ask('/rag/v1/chat/completions', question('slow'));
  assert.equal(slow.status, 504);
  assert.match(slow.json<{ error_msg: string }>().error_msg, /timed out/);
  const down = await call('PUT', '/routes/rag-down', { ...routeTo('/ragd/*', up.port), plugins: {
    'ai-rag': RAG({ azure_openai: { endpoint: 'http://127.0.0.1:1/embeddings', api_key: 'k' } }) } });
  assert.equal(down.status, 201, down.text);
  await eventually(async () => (await ask('/ragd/x', question('x'))).status === 500);
});

test('ssl_verify: a self-signed embeddings service is refused (500) unless ssl_verify is false', async () => {
  const tls = await startLoopbackServer(answerEmbeddings, { tls: makeCert(['127.0.0.1']) });
  try {
    const conf = (sslVerify: boolean): Record<string, unknown> => ({ ...RAG({ azure_openai: { endpoint: `${tls.url}/embeddings`, api_key: 'k' } }), ssl_verify: sslVerify });
    const checked = await call('PUT', '/routes/rag-tls', { ...routeTo('/ragt/*', up.port), plugins: { 'ai-rag': conf(true) } });
    assert.equal(checked.status, 201, checked.text);
    await eventually(async () => (await ask('/ragt/x', question('x'))).status === 500);
    const unchecked = await call('PUT', '/routes/rag-tls', { ...routeTo('/ragt/*', up.port), plugins: { 'ai-rag': conf(false) } });
    assert.equal(unchecked.status, 200, unchecked.text);
    await eventually(async () => (await ask('/ragt/x', question('x'))).status === 200);
  } finally {
    tls.server.close();
  }
});

test('log fields $ai_rag_* and gatehouse_ai_rag_requests_total by result', async () => {
  const augmented = await metricValue(gw, 'gatehouse_ai_rag_requests_total{route="rag",result="augmented"}');
  const failed = await metricValue(gw, 'gatehouse_ai_rag_requests_total{route="rag",result="search_failed"}');
  await ask('/rag/v1/chat/completions?log=ok', question('port?'));
  await ask('/rag/v1/chat/completions?log=search', question('port?', 'fail'));
  await ask('/rag/v1/chat/completions?log=bad', { messages: [] });
  const log = join(gw.dir, 'data', 'logs', 'rag.log');
  const { result, emb, search, bytes } = await logEntry(log, 'uri', '/rag/v1/chat/completions?log=ok');
  assert.deepEqual({ result, emb, search, bytes }, { result: 'augmented', emb: 200, search: 200, bytes: HITS.length });
  const failedEntry = await logEntry(log, 'uri', '/rag/v1/chat/completions?log=search');
  assert.deepEqual([failedEntry.result, failedEntry.emb, failedEntry.search, failedEntry.bytes], ['search_failed', 200, 403, null]);
  assert.equal((await logEntry(log, 'uri', '/rag/v1/chat/completions?log=bad')).result, 'bad_request');
  assert.equal(await metricValue(gw, 'gatehouse_ai_rag_requests_total{route="rag",result="augmented"}'), augmented + 1);
  assert.equal(await metricValue(gw, 'gatehouse_ai_rag_requests_total{route="rag",result="search_failed"}'), failed + 1);
});

test('bad config is refused with a 400 naming the field', async () => {
  const search = { azure_ai_search: { endpoint: 'http://127.0.0.1:1/s', api_key: 'k' } };
  const emb = { azure_openai: { endpoint: 'http://127.0.0.1:1/e', api_key: 'k' } };
  for (const [conf, field] of [
    [{ vector_search_provider: search }, 'embeddings_provider'],
    [{ embeddings_provider: emb }, 'vector_search_provider'],
    [{ embeddings_provider: {}, vector_search_provider: search }, 'embeddings_provider'],
    [{ embeddings_provider: { ...emb, openai: { model: 'm' } }, vector_search_provider: search }, 'embeddings_provider'],
    [{ embeddings_provider: { cohere: {} }, vector_search_provider: search }, 'cohere'],
    [{ embeddings_provider: { azure_openai: { endpoint: 'http://x' } }, vector_search_provider: search }, 'api_key'],
    [{ embeddings_provider: { azure_openai: { endpoint: 'ftp://x', api_key: 'k' } }, vector_search_provider: search }, 'endpoint'],
    [{ embeddings_provider: { openai: { endpoint: 'http://x' } }, vector_search_provider: search }, 'model'],
    [{ embeddings_provider: emb, vector_search_provider: { pinecone: {} } }, 'vector_search_provider'],
    [{ embeddings_provider: emb, vector_search_provider: search, timeout: 0 }, 'timeout'],
    [{ embeddings_provider: emb, vector_search_provider: search, ssl_verify: 'no' }, 'ssl_verify'],
  ] as const) {
    const r = await call('PUT', '/routes/bad', { ...routeTo('/bad', up.port), plugins: { 'ai-rag': conf } });
    assert.equal(r.status, 400, r.text);
    assert.match(r.body.error_msg, new RegExp(field), `${JSON.stringify(conf)}: ${r.body.error_msg}`);
  }
});
