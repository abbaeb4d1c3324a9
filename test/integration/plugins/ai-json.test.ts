import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { startLoopbackServer, type LoopbackServer, type ReceivedRequest } from '../../helpers/loopback-server.js';
import { startFakeLlm, type FakeLlm } from '../../helpers/fake-llm.js';
import { get, type SimpleResponse } from '../../helpers/http.js';
import { withPluginRoutes } from '../../helpers/plugin-admin.js';
import { adminClient, routeTo } from '../admin/client.js';
import { logEntry, metricValue } from '../../helpers/observe.js';

// Through the gateway: a fake model answers by the last message (JSON in prose, a wrong
// type fixed when re-asked, never JSON, an error); the route's own upstream is an echo that
// must not be reached unless a request carries the plugin's marker.

let gw: Gateway;
let echo: LoopbackServer;
let model: FakeLlm;
const echoed: ReceivedRequest[] = [];
const SCHEMA = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] };

const chat = (path: string, question: string, headers: Record<string, string> = {}): Promise<SimpleResponse> =>
  get(gw.url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: question }] }) });

before(async () => {
  echo = await startLoopbackServer((req, res) => {
    echoed.push(req);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"from":"upstream"}');
  });
  model = await startFakeLlm({ respond: (prompt) => {
    if (prompt.startsWith('Given the Json Schema') && prompt.includes('{"answer": 5}')) return { content: '{"answer": "five"}' };
    if (prompt.includes('weather')) return { content: 'Sure! {"answer": "sunny", "temp": 21} Hope it helps.' };
    if (prompt.includes('number')) return { content: '{"answer": 5}' };
    if (prompt.includes('down')) return { status: 503, body: 'overloaded' };
    if (prompt.includes('count')) return { content: '{"n": 0}' };
    return { content: 'I cannot answer in JSON.' };
  } });
  gw = await startGateway({ store: 'sqlite', workers: 1 });
  const call = adminClient(gw);
  const port = Number(new URL(echo.url).port);
  const modelPort = Number(new URL(model.url).port);
  const logger = { prometheus: {}, 'file-logger': { path: 'aj.log', log_format: {
    uri: '$request_uri', code: '$ai_json_code', error: '$ai_json_error', calls: '$ai_json_calls' } } };
  const service = { serviceName: 'model.static', serviceDomain: '127.0.0.1', servicePort: modelPort, servicePath: '/v1/chat/completions' };
  for (const [id, plugins, upstreamPort] of [
    ['aj', { 'ai-json': { ...service, apiKey: 'sk-json', maxRetry: 2, jsonSchema: SCHEMA }, ...logger }, port],
    ['aj-plain', { 'ai-json': { serviceUrl: `${model.url}/v1/chat/completions`, enableContentDisposition: false, maxRetry: 0 } }, port],
    ['aj-path', { 'ai-json': { ...service, contentPath: 'output.text', maxRetry: 0 } }, port],
    ['aj-swagger', { 'ai-json': { ...service, maxRetry: 0, enableSwagger: true, enableOas3: false,
      jsonSchema: { type: 'object', properties: { n: { type: 'number', minimum: 0, exclusiveMinimum: true } } } } }, port],
    ['aj-deep', { 'ai-json': { ...service, maxRetry: 0, jsonSchemaMaxDepth: 2, jsonSchema: SCHEMA } }, port],
    // Higress's "local gateway service": the plugin calls this gateway, whose route sends the marked call on to the model
    ['aj-self', { 'ai-json': { serviceUrl: `${gw.url}/aj-self/v1/chat/completions`, maxRetry: 0 } }, modelPort],
  ] as const) {
    const r = await call('PUT', `/routes/${id}`, { ...routeTo(`/${id}/*`, upstreamPort), plugins });
    assert.equal(r.status, 201, r.text);
  }
  await eventually(async () => (await chat('/aj-plain/ready', 'weather')).status === 200);
});

after(async () => {
  await gw?.stop();
  echo?.server.close();
  await model?.close();
});

test('the JSON of the answer, alone, as an attachment; the model got the client\'s request, not streamed, with the key', async () => {
  const r = await chat('/aj/v1/chat/completions?q=weather', 'What is the weather?', { authorization: 'Bearer client-secret', 'x-trace': 't1' });
  assert.equal(r.status, 200);
  assert.equal(r.body, '{"answer": "sunny", "temp": 21}');
  assert.match(r.headers['content-type'] as string, /^application\/json/);
  assert.equal(r.headers['content-disposition'], 'attachment; filename="response.json"');
  const sent = model.requests.at(-1)!;
  assert.equal(sent.url, '/v1/chat/completions');
  assert.equal(sent.headers.authorization, 'Bearer sk-json');
  assert.equal(sent.headers['x-higress-ai-json-resp'], 'true');
  assert.equal(sent.headers['x-trace'], 't1');
  assert.deepEqual(JSON.parse(sent.body.toString()), { model: 'm', stream: false, messages: [{ role: 'user', content: 'What is the weather?' }] });
  const log = join(gw.dir, 'data', 'logs', 'aj.log');
  const entry = await logEntry(log, 'uri', '/aj/v1/chat/completions?q=weather');
  assert.deepEqual([entry.code, entry.error, entry.calls], [null, null, 1]);
  assert.equal(echoed.length, 0);
});

test('an answer against the schema is asked again with the conversation and the error', async () => {
  const before = model.requests.length;
  const r = await chat('/aj/x?q=number', 'Give me a number');
  assert.equal(r.status, 200);
  assert.equal(r.body, '{"answer": "five"}');
  assert.equal(model.requests.length, before + 2);
  const retry = JSON.parse(model.requests.at(-1)!.body.toString());
  assert.equal(retry.model, 'm');
  assert.deepEqual(retry.messages.slice(0, 3), [
    { role: 'user', content: 'Give me a number' },
    { role: 'assistant', content: '{"answer": 5}' },
    { role: 'system', content: 'response body does not match the Json Schema: /answer must be string' },
  ]);
  assert.equal(retry.messages[3].content, `Given the Json Schema: ${JSON.stringify(SCHEMA)}, please help me convert the following content to a pure json: {"answer": 5}\n Do not respond other content except the pure json!!!!`);
  const log = join(gw.dir, 'data', 'logs', 'aj.log');
  assert.equal((await logEntry(log, 'uri', '/aj/x?q=number')).calls, 2);
});

test('500 {"Code","Msg"}: retries exhausted (1 + maxRetry calls), the service failing, no content at contentPath', async () => {
  let before = model.requests.length;
  let r = await chat('/aj/x?q=never', 'Tell me a story');
  assert.equal(r.status, 500);
  assert.deepEqual(r.json(), { Code: 1006,
    Msg: 'retry count exceeds max retry count: response body does not contain the valid json: cannot find json in the response body' });
  assert.equal(model.requests.length, before + 3);
  r = await chat('/aj/x?q=down', 'Is it down?');
  assert.equal(r.status, 500);
  assert.deepEqual(r.json(), { Code: 1007, Msg: 'service unavailable: model answered 503: overloaded' });
  before = model.requests.length;
  r = await chat('/aj-path/x', 'What is the weather?');
  assert.deepEqual(r.json(), { Code: 1007, Msg: 'response body does not contain the content: output.text' });
  assert.equal(model.requests.length, before + 1);
  before = model.requests.length;
  const text = await get(`${gw.url}/aj/x?q=text`, { method: 'POST', body: 'plain words' });
  assert.equal(text.status, 400);
  assert.match(text.json().message, /^could not parse JSON request body: /);
  assert.equal(model.requests.length, before);
  const log = join(gw.dir, 'data', 'logs', 'aj.log');
  const entry = await logEntry(log, 'uri', '/aj/x?q=never');
  assert.deepEqual([entry.code, entry.calls], [1006, 3]);
  assert.match(String(entry.error), /^retry count exceeds/);
  assert.equal(await metricValue(gw, 'gatehouse_ai_json_answers_total{route="aj",code="1006"}'), 1);
  assert.equal(await metricValue(gw, 'gatehouse_ai_json_answers_total{route="aj",code="ok"}'), 2);
  assert.equal(await metricValue(gw, 'gatehouse_ai_json_model_calls_total{route="aj"}'), 7);
  assert.equal(echoed.length, 0);
});

test('no schema: any JSON object; enableContentDisposition false; serviceUrl gives the address', async () => {
  const r = await chat('/aj-plain/x', 'number please');
  assert.equal(r.status, 200);
  assert.equal(r.body, '{"answer": 5}');
  assert.equal(r.headers['content-disposition'], undefined);
});

test('draft-04 with enableSwagger; a schema deeper than jsonSchemaMaxDepth only checks the JSON', async () => {
  let r = await chat('/aj-swagger/x', 'count');
  assert.equal(r.status, 500);
  assert.equal(r.json().Code, 1006);
  assert.match(r.json().Msg, /does not match the Json Schema: \/n must be > 0/);
  r = await chat('/aj-deep/x', 'number');
  assert.equal(r.status, 200);
  assert.equal(r.body, '{"answer": 5}');
});

test('the marker header passes a request on untouched: the gateway as the model service', async () => {
  const r = await chat('/aj-self/v1/chat/completions', 'weather today');
  assert.equal(r.status, 200);
  assert.equal(r.body, '{"answer": "sunny", "temp": 21}');
  assert.equal(model.requests.at(-1)!.url, '/aj-self/v1/chat/completions');
  const passed = await chat('/aj/x', 'anything', { 'x-higress-ai-json-resp': 'true' });
  assert.deepEqual(passed.json(), { from: 'upstream' });
  assert.equal(echoed.length, 1);
});

test('bad config is refused with a 400 naming the field', async () => {
  const service = { serviceName: 's', serviceDomain: 'api.example' };
  await withPluginRoutes('ai-json', async (put) => {
    for (const [conf, message] of [
      [{ serviceName: 's' }, /serviceDomain or serviceUrl is required/],
      [{ serviceUrl: 'api.example/v1' }, /serviceUrl: "api\.example\/v1" is not a URL/],
      [{ ...service, jsonSchema: 'x' }, /jsonSchema/],
      [{ ...service, jsonSchema: { type: 'nonsense' } }, /jsonSchema: the draft-07 schema does not compile/],
      [{ ...service, jsonSchema: { type: 'object', properties: { n: { type: 'number', exclusiveMinimum: true } } } }, /jsonSchema: the draft-07 schema/],
      [{ ...service, jsonSchema: SCHEMA, jsonSchemaMaxDepth: 2, rejectOnDepthExceeded: true }, /jsonSchema: depth 4 exceeds jsonSchemaMaxDepth 2/],
      [{ ...service, maxRetry: 11 }, /maxRetry/],
      [{ ...service, servicePort: 0 }, /servicePort/],
      [{ ...service, contentPath: 'choices.#.message' }, /contentPath: .*"#"/],
      [{ ...service, typo: 1 }, /additional properties forbidden, found typo/],
    ] as const) {
      const r = await put(conf);
      assert.equal(r.status, 400, `${JSON.stringify(conf)}: ${r.text}`);
      assert.match(r.body.error_msg, message);
    }
    assert.equal((await put({ ...service, jsonSchema: SCHEMA })).status, 201);
  });
});
