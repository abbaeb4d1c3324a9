import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { request } from 'undici';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { startFakeLlm, type FakeLlm } from '../../helpers/fake-llm.js';
import { get } from '../../helpers/http.js';
import { logEntry, metricValue } from '../../helpers/observe.js';
import { adminClient, type AdminCall } from '../admin/client.js';
import { makeCert } from '../../helpers/certs.js';

let gw: Gateway;
let llm: FakeLlm;
let call: AdminCall;

const AUTH = { header: { Authorization: 'Bearer sk-test' } };
const LOG_FORMAT = {
  uri: '$request_uri', type: '$request_type', requested: '$request_llm_model', model: '$llm_model',
  prompt: '$llm_prompt_tokens', completion: '$llm_completion_tokens', total: '$llm_total_tokens', ttft: '$llm_time_to_first_token',
};
const chat = (extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ model: 'client-model', messages: [{ role: 'user', content: 'say hello twice' }], ...extra });

/** A route with only ai-proxy (and a file-logger): no upstream of its own. */
async function aiRoute(id: string, conf: Record<string, unknown>, probe = true): Promise<void> {
  const r = await call('PUT', `/routes/${id}`, {
    uri: `/${id}/*`,
    plugins: { 'ai-proxy': conf, 'file-logger': { path: `${id}.log`, log_format: LOG_FORMAT } },
  });
  assert.ok(r.status === 200 || r.status === 201, r.text);
  if (probe) await eventually(async () => (await post(`/${id}/probe`, chat())).status === 200);
}

function post(path: string, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  return get(gw.url + path, { method: 'POST', headers, body });
}

before(async () => {
  llm = await startFakeLlm();
  gw = await startGateway({ store: 'sqlite', workers: 1 });
  call = adminClient(gw);
  await aiRoute('chat', {
    provider: 'openai-compatible', auth: AUTH,
    options: { model: 'forced-model', temperature: 0.2 },
    override: { endpoint: `${llm.url}/v1/chat/completions` },
  });
});

after(async () => {
  await gw?.stop();
  await llm?.close();
});

test('a chat request is rewritten for the provider and its answer relayed; the route has no upstream', async () => {
  const r = await get(`${gw.url}/chat/anything?trace=1`, {
    method: 'GET', // the client's method does not matter: providers get a POST
    headers: { 'content-type': 'application/json', authorization: 'Bearer client', 'accept-encoding': 'gzip', 'x-client': 'kept' },
    body: chat({ temperature: 1 }),
  });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json().choices[0].message.content, 'Hello from the fake model');
  const got = llm.last();
  assert.equal(got.method, 'POST');
  assert.equal(got.url, '/v1/chat/completions?trace=1', 'the endpoint path replaces the client\'s; the client\'s query stays');
  assert.equal(got.headers.authorization, 'Bearer sk-test', 'auth.header wins over the client\'s');
  assert.equal(got.headers.host, `127.0.0.1:${llm.port}`);
  assert.equal(got.headers['content-type'], 'application/json');
  assert.equal(got.headers['accept-encoding'], undefined);
  assert.equal(got.headers['x-client'], 'kept');
  assert.equal(Number(got.headers['content-length']), got.body.length);
  assert.equal(got.json.model, 'forced-model', 'options overwrite the client\'s fields');
  assert.equal(got.json.temperature, 0.2);
  assert.deepEqual(got.json.messages, [{ role: 'user', content: 'say hello twice' }]);
  assert.equal(got.json.stream_options, undefined, 'only streamed chats ask for usage');
});

test('each provider\'s default path, and auth by header or query', async () => {
  // the client's query stays (first), the endpoint's and auth.query's are added; auth.query wins over a client argument
  const cases: [string, Record<string, unknown>, string, string][] = [
    ['openai', { override: { endpoint: llm.url } }, '/v1/chat/completions?key=client-tried', 'authorization'],
    ['deepseek', { override: { endpoint: llm.url } }, '/chat/completions?key=client-tried', 'authorization'],
    ['qwen', { override: { endpoint: llm.url } }, '/compatible-mode/v1/chat/completions?key=client-tried', 'authorization'],
    ['ollama', { override: { endpoint: llm.url } }, '/v1/chat/completions?key=client-tried', 'authorization'],
    ['azure-openai', {
      auth: { header: { 'api-key': 'azure-key' } },
      override: { endpoint: `${llm.url}/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21` },
    }, '/openai/deployments/gpt4o/chat/completions?key=client-tried&api-version=2024-10-21', 'api-key'],
    ['openai-compatible', {
      auth: { query: { key: 'query-secret' } },
      override: { endpoint: `${llm.url}/custom/chat` },
    }, '/custom/chat?key=query-secret', ''],
  ];
  for (const [provider, extra, url, header] of cases) {
    const id = `p-${provider}`;
    await aiRoute(id, { provider, auth: AUTH, ...extra });
    const r = await post(`/${id}/x?key=client-tried`, chat());
    assert.equal(r.status, 200, `${provider}: ${r.body}`);
    const got = llm.last();
    assert.equal(got.url, url, provider);
    if (header !== '') assert.ok(got.headers[header], `${provider}: ${header} header sent`);
    assert.equal(got.json.model, 'client-model', `${provider}: the client's model without options.model`);
  }
});

test('embeddings go to the embeddings path; passthrough bodies to the client\'s path; unsupported pairs are refused', async () => {
  await aiRoute('emb', { provider: 'openai', auth: AUTH, override: { endpoint: llm.url } });
  const e = await post('/emb/x', JSON.stringify({ model: 'text-embedding-3-small', input: ['a', 'b'] }));
  assert.equal(e.status, 200, e.body);
  assert.equal(llm.last().url, '/v1/embeddings');
  assert.equal(e.json().data.length, 2);
  const p = await post('/emb/v1/moderations', JSON.stringify({ prompt: 'hi' }));
  assert.equal(p.status, 200, p.body);
  assert.equal(llm.last().url, '/emb/v1/moderations');
  const d = await post('/p-deepseek/x', JSON.stringify({ model: 'm', input: 'x' }));
  assert.equal(d.status, 400);
  assert.equal(d.body, 'provider deepseek does not support openai-embeddings protocol (supported: openai-chat, passthrough)');
  // APISIX's other protocols are detected (by path) and refused, not sent as chats or embeddings
  for (const [path, body, protocol] of [['/emb/v1/responses', { input: 'x' }, 'openai-responses'],
    ['/emb/v1/messages', { messages: [] }, 'anthropic-messages'], ['/emb/model/m/converse', { messages: [] }, 'bedrock-converse']] as const) {
    const r = await post(path, JSON.stringify(body));
    assert.equal(r.status, 400, path);
    assert.equal(r.body, `provider openai does not support ${protocol} protocol (supported: openai-chat, openai-embeddings, passthrough)`);
  }
});

test('a streamed chat passes chunk by chunk: the first chunk reaches the client before the provider finished', async () => {
  const held = llm.holdNextStream();
  const finishedBefore = llm.streamsFinished;
  const res = await request(`${gw.url}/chat/stream`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: chat({ stream: true }),
  });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/event-stream/);
  const it = res.body[Symbol.asyncIterator]();
  const first = await it.next();
  assert.match(Buffer.from(first.value as Buffer).toString(), /"content":"Hello"/);
  await held.firstChunkWritten;
  assert.equal(llm.streamsFinished, finishedBefore, 'the provider is still holding the rest');
  held.release();
  let rest = '';
  for (let n = await it.next(); n.done !== true; n = await it.next()) rest += Buffer.from(n.value as Buffer).toString();
  assert.match(rest, /data: \[DONE\]/);
  assert.match(rest, /"usage":\{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8\}/);
  assert.deepEqual(llm.last().json.stream_options, { include_usage: true });
});

test('the access log gets APISIX\'s llm_* variables, for JSON and streamed answers; requests are counted', async () => {
  const series = `gatehouse_ai_proxy_requests_total{route="chat",provider="openai-compatible",model="forced-model",status="200"}`;
  const before = await metricValue(gw, series);
  assert.equal((await post('/chat/log-json', chat())).status, 200);
  assert.equal((await post('/chat/log-stream', chat({ stream: true }))).status, 200);
  const log = join(gw.dir, 'data', 'logs', 'chat.log');
  const json = await logEntry(log, 'uri', '/chat/log-json');
  const { route_id: _r, service_id: _s, ...fields } = json;
  assert.deepEqual({ ...fields, ttft: typeof json.ttft }, {
    uri: '/chat/log-json', type: 'ai_chat', requested: 'client-model', model: 'forced-model',
    prompt: 3, completion: 5, total: 8, ttft: 'number',
  });
  const streamed = await logEntry(log, 'uri', '/chat/log-stream');
  assert.equal(streamed.type, 'ai_stream');
  assert.equal(streamed.total, 8);
  assert.equal(streamed.prompt, 3);
  assert.equal(await metricValue(gw, series), before + 2);
});

test('APISIX\'s request errors: content type, empty body, bad JSON, no protocol, max_req_body_size', async () => {
  const ct = await post('/chat/x', 'hi', { 'content-type': 'text/plain' });
  assert.equal(ct.status, 400);
  assert.equal(ct.body, 'unsupported content-type: text/plain, only application/json is supported');
  const empty = await post('/chat/x', '');
  assert.equal(empty.status, 400);
  assert.equal(empty.body, 'failed to get request body: request body is empty');
  const bad = await post('/chat/x', '{"messages": ');
  assert.equal(bad.status, 400);
  assert.match(bad.json().message, /^could not parse JSON request body: /);
  for (const body of ['{}', '[1]', '"x"']) {
    const none = await post('/chat/x', body);
    assert.equal(none.status, 400, body);
    assert.equal(none.body, 'no matching AI protocol for the request');
  }
  const sent = llm.requests.length;
  await aiRoute('small', { provider: 'openai-compatible', auth: AUTH, override: { endpoint: llm.url }, max_req_body_size: 200 });
  const big = await post('/small/x', chat({ padding: 'x'.repeat(300) }));
  assert.equal(big.status, 413);
  assert.equal(llm.requests.length, sent + 1, 'only the probe reached the provider');
});

test('the provider\'s 429 and 500 reach the client with their body and Content-Type', async () => {
  llm.queue({ status: 429, body: { error: { message: 'Rate limit reached', type: 'rate_limit' } }, headers: { 'retry-after': '7' } },
    { status: 500, body: 'upstream broke' });
  const limited = await post('/chat/x', chat());
  assert.equal(limited.status, 429);
  assert.equal(limited.headers['content-type'], 'application/json');
  assert.equal(limited.headers['retry-after'], '7');
  assert.equal(limited.json().error.message, 'Rate limit reached');
  const broken = await post('/chat/x', chat());
  assert.equal(broken.status, 500);
  assert.equal(broken.body, 'upstream broke');
});

test('timeout bounds the wait for the provider: 504', async () => {
  await aiRoute('slow', { provider: 'openai', auth: AUTH, override: { endpoint: llm.url }, timeout: 300 });
  llm.queue({ status: 200, body: { choices: [] }, delayMs: 2000 });
  const started = performance.now();
  const r = await post('/slow/x', chat());
  assert.equal(r.status, 504);
  assert.ok(performance.now() - started < 1500, 'answered before the provider did');
});

test('a route with plugins but no upstream still answers as before without ai-proxy; one with neither is refused', async () => {
  const r = await call('PUT', '/routes/bare', { uri: '/bare', plugins: { 'request-id': {} } });
  assert.equal(r.status, 201, r.text);
  await eventually(async () => (await get(gw.url + '/bare')).status !== 404);
  const g = await get(gw.url + '/bare');
  assert.equal(g.status, 502);
  assert.equal(g.json().error_msg, 'upstream not found');
  const none = await call('PUT', '/routes/none', { uri: '/none' });
  assert.equal(none.status, 400);
});

test('bad config is refused with a 400 naming the field', async () => {
  const endpoint = { endpoint: llm.url };
  for (const [conf, message] of [
    [{ auth: AUTH }, /provider/],
    [{ provider: 'nope', auth: AUTH }, /provider/],
    [{ provider: 'gemini', auth: AUTH }, /provider: gemini is not built yet/],
    [{ provider: 'bedrock', auth: AUTH }, /provider: bedrock is not built yet/],
    [{ provider: 'openai' }, /auth/],
    [{ provider: 'openai', auth: { gcp: { service_account_json: '{}' } } }, /gcp/],
    [{ provider: 'openai', auth: { header: { 'bad name': 'x' } } }, /auth/],
    [{ provider: 'openai-compatible', auth: AUTH }, /override\.endpoint is required for provider openai-compatible/],
    [{ provider: 'azure-openai', auth: AUTH }, /override\.endpoint is required/],
    [{ provider: 'openai', auth: AUTH, override: { endpoint: 'ftp://x/y' } }, /override\.endpoint/],
    [{ provider: 'openai', auth: AUTH, override: { endpoint: 'not a url' } }, /override\.endpoint/],
    [{ provider: 'openai', auth: AUTH, override: { ...endpoint, request_body: {} } }, /request_body/],
    [{ provider: 'openai', auth: AUTH, override: { llm_options: { max_tokens: 0 } } }, /max_tokens/],
    [{ provider: 'openai', auth: AUTH, timeout: 0 }, /timeout/],
    [{ provider: 'openai', auth: AUTH, keepalive_timeout: 10 }, /keepalive_timeout/],
    [{ provider: 'openai', auth: AUTH, provider_conf: { region: 'x' } }, /provider_conf/],
    [{ provider: 'openai', auth: AUTH, max_stream_duration_ms: 10 }, /max_stream_duration_ms/],
    [{ provider: 'openai', auth: AUTH, streaming_flush_interval_ms: 0 }, /streaming_flush_interval_ms/],
    [{ provider: 'openai', auth: AUTH, logging: { summaries: true, everything: true } }, /everything/],
  ] as const) {
    const r = await call('PUT', '/routes/bad', { uri: '/bad', plugins: { 'ai-proxy': conf } });
    assert.equal(r.status, 400, `${JSON.stringify(conf)}: ${r.text}`);
    assert.match(r.body.error_msg, message, JSON.stringify(conf));
  }
});

test('override.llm_options.max_tokens is forced: max_completion_tokens for chats, max_tokens otherwise', async () => {
  await aiRoute('maxtok', { provider: 'openai', auth: AUTH, override: { endpoint: llm.url, llm_options: { max_tokens: 64 } } });
  assert.equal((await post('/maxtok/x', chat({ max_tokens: 1000 }))).status, 200);
  assert.equal(llm.last().json.max_completion_tokens, 64);
  assert.equal(llm.last().json.max_tokens, undefined);
  assert.equal((await post('/maxtok/x', JSON.stringify({ input: 'x' }))).status, 200);
  assert.equal(llm.last().json.max_tokens, 64);
});

test('backpressure: a client that stops reading a long stream stops the provider too; nothing is buffered whole', async () => {
  const saved = llm.answer;
  llm.answer = Array.from({ length: 150_000 }, (_, i) => `w${i}`).join(' '); // ~20 MB of events
  try {
    const finished = llm.streamsFinished;
    const res = await request(`${gw.url}/chat/big`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chat({ stream: true }) });
    assert.equal(res.statusCode, 200);
    await new Promise((r) => setTimeout(r, 1000)); // not reading: the socket buffers fill up
    assert.equal(llm.streamsFinished, finished, 'the provider is held back while the client does not read');
    let bytes = 0;
    let tail = '';
    for await (const chunk of res.body) {
      bytes += (chunk as Buffer).length;
      tail = (tail + Buffer.from(chunk as Buffer).toString()).slice(-200);
    }
    assert.ok(bytes > 10_000_000, `${bytes} bytes`);
    assert.match(tail, /data: \[DONE\]\n\n$/);
    await eventually(() => llm.streamsFinished === finished + 1);
  } finally {
    llm.answer = saved;
  }
});

test('an https provider: its certificate is verified unless ssl_verify is false', async () => {
  const secure = await startFakeLlm({ tls: makeCert(['localhost']) });
  try {
    const endpoint = `https://localhost:${secure.port}/v1/chat/completions`;
    await aiRoute('tls-off', { provider: 'openai-compatible', auth: AUTH, override: { endpoint }, ssl_verify: false });
    assert.equal(secure.last().headers.host, `localhost:${secure.port}`);
    await aiRoute('tls-on', { provider: 'openai-compatible', auth: AUTH, override: { endpoint } }, false);
    await eventually(async () => (await post('/tls-on/x', chat())).status !== 404);
    const refused = await post('/tls-on/x', chat());
    assert.equal(refused.status, 502, 'a self-signed certificate is refused by default');
  } finally {
    await secure.close();
  }
});

test('logging.summaries and logging.payloads: one info line per call in the node log', async () => {
  await aiRoute('logged', { provider: 'openai', auth: AUTH, override: { endpoint: llm.url }, logging: { summaries: true, payloads: true } });
  const from = gw.output().length;
  assert.equal((await post('/logged/x', chat({ model: 'logged-model' }))).status, 200);
  await gw.waitForOutput('logged-model', from, 5000);
  const line = gw.output().slice(from).split('\n').find((l) => l.includes('"ai":') && l.includes('logged-model'))!;
  const ai = JSON.parse(line).ai;
  assert.equal(ai.provider, 'openai');
  assert.equal(ai.model, 'logged-model');
  assert.deepEqual(ai.usage, { prompt: 3, completion: 5, total: 8 });
  assert.equal(typeof ai.duration_ms, 'number');
  assert.match(ai.request, /"say hello twice"/);
  assert.equal(ai.response, 'Hello from the fake model');
  assert.doesNotMatch(line, /sk-test/, 'the auth header is never logged');
});

test('anthropic: the chat becomes a messages request and the answer an OpenAI chat completion, JSON and streamed', async () => {
  await aiRoute('claude', {
    provider: 'anthropic', auth: { header: { 'x-api-key': 'sk-ant' } },
    options: { model: 'claude-sonnet-4-5' }, override: { endpoint: llm.url },
  });
  const body = JSON.stringify({
    messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'say hello twice' }], stop: 'END', temperature: 0.5,
  });
  const r = await post('/claude/x', body);
  assert.equal(r.status, 200, r.body);
  const got = llm.last();
  assert.equal(got.url, '/v1/messages');
  assert.equal(got.headers['x-api-key'], 'sk-ant');
  assert.equal(got.headers['anthropic-version'], '2023-06-01');
  assert.deepEqual(got.json, {
    model: 'claude-sonnet-4-5', system: 'be brief', messages: [{ role: 'user', content: 'say hello twice' }],
    max_tokens: 4096, temperature: 0.5, stop_sequences: ['END'],
  });
  const answer = r.json();
  assert.equal(answer.object, 'chat.completion');
  assert.equal(answer.choices[0].message.content, 'Hello from the fake model');
  assert.equal(answer.choices[0].finish_reason, 'stop');
  assert.deepEqual(answer.usage, { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 });
  assert.equal(Number(r.headers['content-length'] ?? r.body.length), Buffer.byteLength(r.body));

  const s = await post('/claude/stream', JSON.stringify({ messages: [{ role: 'user', content: 'say hello twice' }], stream: true }),
    { 'content-type': 'application/json', 'anthropic-version': '2024-01-01' });
  assert.equal(s.status, 200);
  assert.equal(llm.last().headers['anthropic-version'], '2024-01-01', 'the client\'s version is kept');
  assert.equal(llm.last().json.stream, true);
  assert.equal(llm.last().json.stream_options, undefined);
  const events = s.body.split('\n\n').filter((e) => e !== '').map((e) => e.replace(/^data: /, ''));
  assert.equal(events.at(-1), '[DONE]');
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
  assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), 'Hello from the fake model');
  assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === 'claude-sonnet-4-5'));
  assert.deepEqual(chunks.at(-1).usage, { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 });
  const logged = await logEntry(join(gw.dir, 'data', 'logs', 'claude.log'), 'uri', '/claude/stream');
  assert.deepEqual([logged.type, logged.model, logged.prompt, logged.completion, logged.total], ['ai_stream', 'claude-sonnet-4-5', 3, 5, 8]);

  const tools = await post('/claude/x', JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function' }] }));
  assert.equal(tools.status, 400);
  assert.equal(tools.body, 'tools: tool calling is not converted for provider anthropic');

  llm.queue({ status: 429, body: { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } } });
  const limited = await post('/claude/x', body);
  assert.equal(limited.status, 429);
  assert.deepEqual(limited.json(), { error: { message: 'slow down', type: 'rate_limit_error', code: null } });
});

test('an auth value may be a secret reference ($env://), resolved off the request path', async () => {
  const other = await startGateway({ store: 'sqlite', workers: 1, env: { AI_PROVIDER_AUTH: 'Bearer sk-from-env' } });
  try {
    const put = await adminClient(other)('PUT', '/routes/env', {
      uri: '/env', plugins: { 'ai-proxy': { provider: 'openai', auth: { header: { Authorization: '$env://AI_PROVIDER_AUTH' } }, override: { endpoint: llm.url } } },
    });
    assert.equal(put.status, 201, put.text);
    await eventually(async () => (await get(`${other.url}/env`, { method: 'POST', body: chat() })).status === 200);
    assert.equal(llm.last().headers.authorization, 'Bearer sk-from-env');
  } finally {
    await other.stop();
  }
});
