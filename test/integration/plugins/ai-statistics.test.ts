import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { startFakeLlm, type FakeLlm } from '../../helpers/fake-llm.js';
import { get } from '../../helpers/http.js';
import { logEntry, metricValue } from '../../helpers/observe.js';
import { adminClient, type AdminCall } from '../admin/client.js';

// ai-statistics through the gateway: behind ai-proxy (the fake provider, a consumer) and on a
// route whose plain upstream is the model (the same fake, answering OpenAI JSON and SSE).

let gw: Gateway;
let llm: FakeLlm;
let call: AdminCall;

const LOG_FORMAT = {
  uri: '$request_uri', model: '$ai_model', input: '$ai_input_token', output: '$ai_output_token', total: '$ai_total_token',
  ttft: '$ai_llm_first_token_duration', duration: '$ai_llm_service_duration', type: '$ai_response_type',
  session: '$ai_session_id', ai_log: '$ai_log',
};
const chat = (extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ model: 'client-model', messages: [{ role: 'user', content: 'say hello twice' }], ...extra });

function post(path: string, body: string, headers: Record<string, string> = {}) {
  return get(gw.url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
}

async function putRoute(id: string, route: Record<string, unknown>): Promise<void> {
  const r = await call('PUT', `/routes/${id}`, route);
  assert.ok(r.status === 200 || r.status === 201, r.text);
}

before(async () => {
  llm = await startFakeLlm();
  gw = await startGateway({ store: 'sqlite', workers: 1 });
  call = adminClient(gw);
  const c = await call('PUT', '/consumers/jack', { username: 'jack', plugins: { 'key-auth': { key: 'jack-key' } } });
  assert.ok(c.status === 200 || c.status === 201, c.text);
  await putRoute('proxied', {
    uri: '/proxied/*',
    plugins: {
      'key-auth': {},
      'ai-statistics': { use_default_attributes: true, session_id_header: 'x-session' },
      'ai-proxy': { provider: 'openai-compatible', auth: { header: { Authorization: 'Bearer sk' } }, override: { endpoint: `${llm.url}/v1/chat/completions` } },
      'file-logger': { path: 'proxied.log', log_format: LOG_FORMAT },
    },
  });
  const port = new URL(llm.url).port;
  await putRoute('plain', {
    uri: '/v1/*',
    upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${port}`]: 1 } },
    plugins: {
      'ai-statistics': {
        enable_path_suffixes: ['/chat/completions'],
        value_length_limit: 12,
        attributes: [
          { key: 'team', value_source: 'request_header', value: 'x-team', default_value: 'none', apply_to_log: true },
          { key: 'temperature', value_source: 'request_body', value: 'temperature', apply_to_log: true },
          { key: 'fixed', value_source: 'fixed_value', value: 'v1', apply_to_log: true },
          { key: 'server_type', value_source: 'response_header', value: 'content-type', apply_to_log: true },
          { key: 'first_word', value_source: 'response_streaming_body', value: 'choices.0.delta.content', rule: 'first', apply_to_log: true },
          { key: 'streamed', value_source: 'response_streaming_body', value: 'choices.0.delta.content', rule: 'append', apply_to_log: true },
          { key: 'finish', value_source: 'response_body', value: 'choices.0.finish_reason', apply_to_log: true },
          { key: 'unlogged', value_source: 'fixed_value', value: 'x' },
        ],
      },
      'file-logger': { path: 'plain.log', log_format: LOG_FORMAT },
    },
  });
  await eventually(async () => (await post('/proxied/probe', chat(), { apikey: 'jack-key' })).status === 200);
  await eventually(async () => (await post('/v1/chat/completions?probe', chat())).status === 200);
});

after(async () => {
  await gw?.stop();
  await llm?.close();
});

const series = (name: string, route: string, consumer: string, model: string): string =>
  `gatehouse_ai_${name}{route="${route}",consumer="${consumer}",model="${model}"}`;

test('behind ai-proxy: tokens of JSON and streamed answers per route, consumer and model; log fields', async () => {
  const total = series('total_tokens_total', 'proxied', 'jack', 'client-model');
  const input = series('input_tokens_total', 'proxied', 'jack', 'client-model');
  const output = series('output_tokens_total', 'proxied', 'jack', 'client-model');
  const calls = `gatehouse_ai_llm_service_duration_ms_count{route="proxied",consumer="jack",model="client-model"}`;
  const before = await Promise.all([total, input, output, calls].map((s) => metricValue(gw, s)));
  assert.equal((await post('/proxied/json', chat(), { apikey: 'jack-key', 'x-session': 's-1' })).status, 200);
  const streamed = await post('/proxied/stream', chat({ stream: true }), { apikey: 'jack-key' });
  assert.equal(streamed.status, 200);
  assert.match(streamed.body, /data: \[DONE\]/);

  const log = join(gw.dir, 'data', 'logs', 'proxied.log');
  const json = await logEntry(log, 'uri', '/proxied/json');
  assert.deepEqual([json.model, json.input, json.output, json.total, json.type, json.session], ['client-model', 3, 5, 8, 'normal', 's-1']);
  assert.equal(typeof json.ttft, 'number');
  assert.ok(typeof json.duration === 'number' && json.duration >= (json.ttft as number));
  const fields = JSON.parse(json.ai_log as string);
  assert.equal(fields.question, 'say hello twice', 'use_default_attributes logs the question');
  assert.equal(fields.answer, 'Hello from the fake model');
  assert.equal(fields.session_id, 's-1');
  const stream = await logEntry(log, 'uri', '/proxied/stream');
  assert.deepEqual([stream.input, stream.output, stream.total, stream.type], [3, 5, 8, 'stream'], 'usage read from the last streamed chunk');
  assert.equal(JSON.parse(stream.ai_log as string).answer, 'Hello from the fake model');

  const after = await Promise.all([total, input, output, calls].map((s) => metricValue(gw, s)));
  assert.deepEqual(after.map((v, i) => v - before[i]!), [16, 6, 10, 2]);
  const metrics = (await get(gw.metricsUrl)).body;
  assert.match(metrics, /gatehouse_ai_first_token_duration_ms_bucket\{[^}]*route="proxied",consumer="jack",model="client-model"/);
});

test('without ai-proxy: the route\'s upstream is the model; attributes from request, headers, body and stream', async () => {
  const total = series('total_tokens_total', 'plain', '', 'client-model');
  const before = await metricValue(gw, total);
  const json = await post('/v1/chat/completions?case=json', chat({ temperature: 0.5 }), { 'x-team': 'blue' });
  assert.equal(json.status, 200);
  assert.equal(json.json().choices[0].message.content, 'Hello from the fake model', 'the answer passes unchanged');
  const streamed = await post('/v1/chat/completions?case=sse', chat({ stream: true, stream_options: { include_usage: true } }));
  assert.equal(streamed.status, 200);
  assert.match(streamed.body, /"content":" model"/);

  const log = join(gw.dir, 'data', 'logs', 'plain.log');
  const j = await logEntry(log, 'uri', '/v1/chat/completions?case=json');
  assert.deepEqual([j.model, j.input, j.output, j.total, j.type], ['client-model', 3, 5, 8, 'normal']);
  assert.deepEqual(JSON.parse(j.ai_log as string), {
    model: 'client-model', response_type: 'normal', llm_service_duration: j.duration, input_token: 3, output_token: 5, total_token: 8,
    llm_first_token_duration: j.ttft, team: 'blue', temperature: '0.5', fixed: 'v1', server_type: 'application/', finish: 'stop',
  }, 'values cut to value_length_limit (12); unlogged attributes and stream-only ones absent');
  const s = await logEntry(log, 'uri', '/v1/chat/completions?case=sse');
  assert.deepEqual([s.input, s.output, s.total, s.type], [3, 5, 8, 'stream']);
  const fields = JSON.parse(s.ai_log as string);
  assert.deepEqual([fields.team, fields.first_word, fields.streamed, fields.finish], ['none', 'Hello', 'Hello from t', undefined]);
  assert.equal(await metricValue(gw, total), before + 16);
});

test('paths outside enable_path_suffixes are not observed', async () => {
  const r = await post('/v1/embeddings', JSON.stringify({ model: 'client-model', input: 'x' }));
  assert.equal(r.status, 200);
  const probe = await post('/v1/chat/completions?case=after-embeddings', chat());
  assert.equal(probe.status, 200);
  const log = join(gw.dir, 'data', 'logs', 'plain.log');
  await logEntry(log, 'uri', '/v1/chat/completions?case=after-embeddings');
  const e = await logEntry(log, 'uri', '/v1/embeddings');
  assert.deepEqual([e.model, e.total, e.ai_log], [null, null, null], "unset variables log as null");
});

test('bad config is refused naming the field', async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ attributes: [{ key: 'a', value_source: 'fixed_value', value: 'x', apply_to_span: true }] }, /attributes\[0\]\.apply_to_span: tracing is not supported/],
    [{ attributes: [{ key: 'a', value_source: 'response_streaming_body', value: 'x' }] }, /attributes\[0\]\.rule: required/],
    [{ attributes: [{ key: 'a', value_source: 'request_body', value: 'a', rule: 'first' }] }, /attributes\[0\]\.rule: only applies/],
    [{ attributes: [{ key: 'reasoning_tokens' }] }, /attributes\[0\]\.value_source: required/],
    [{ attributes: [{ key: 'a', value_source: 'request_body', value: 'messages.#.content' }] }, /attributes\[0\]\.value: .*GJSON syntax/],
    [{ attributes: [{ key: 'a', value_source: 'request_header' }] }, /attributes\[0\]\.value: required/],
    [{ attributes: [{ key: 'a', trace_span_key: 'x' }] }, /trace_span_key/],
    [{ use_default_response_attributes: true }, /use_default_response_attributes/],
    [{ value_length_limit: 0 }, /value_length_limit/],
  ];
  for (const [conf, message] of cases) {
    const r = await call('PUT', '/routes/bad', { uri: '/bad', upstream: { type: 'roundrobin', nodes: { '127.0.0.1:1': 1 } }, plugins: { 'ai-statistics': conf } });
    assert.equal(r.status, 400, JSON.stringify(conf));
    assert.match(r.body.error_msg, message);
  }
});
