import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { startLoopbackServer, type LoopbackServer, type ReceivedRequest } from '../../helpers/loopback-server.js';
import { startFakeLlm, type FakeLlm } from '../../helpers/fake-llm.js';
import { get } from '../../helpers/http.js';
import { withPluginRoutes } from '../../helpers/plugin-admin.js';
import { adminClient, routeTo } from '../admin/client.js';
import { logEntry, metricValue } from '../../helpers/observe.js';

// Through the gateway: a fake model on loopback classifies by keywords, an echo upstream
// shows what a later plugin (ai-prompt-decorator, filtered on $intent_category) did.

let gw: Gateway;
let echo: LoopbackServer;
let model: FakeLlm;
const received: ReceivedRequest[] = [];

const ask = async (path: string, question: string): Promise<{ status: number; sent: any }> => {
  const r = await get(gw.url + path, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', messages: [{ role: 'system', content: 'Be kind.' }, { role: 'user', content: question }] }) });
  return { status: r.status, sent: r.status === 200 ? JSON.parse(received.at(-1)!.body.toString()) : r.body };
};

before(async () => {
  echo = await startLoopbackServer((req, res) => {
    received.push(req);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  model = await startFakeLlm({ respond: (prompt) => {
    if (prompt.includes('stock')) return { content: 'Finance' };
    if (prompt.includes('court')) return { content: 'The category is: Law.' };
    if (prompt.includes('broken')) return { status: 503, body: 'overloaded' };
    if (prompt.includes('slow')) return { content: 'Finance', delayMs: 2000 };
    return { content: 'NotFound' };
  } });
  gw = await startGateway({ store: 'sqlite', workers: 1 });
  const call = adminClient(gw);
  const port = Number(new URL(echo.url).port);
  const modelPort = Number(new URL(model.url).port);
  const plugins = {
    'ai-intent': { scene: { category: 'Finance|Law' },
      llm: { proxyServiceName: 'intent.static', proxyUrl: `http://127.0.0.1:1/intent/v1/chat/completions`, proxyPort: modelPort,
        proxyApiKey: 'sk-intent', proxyTimeout: 500 } },
    'ai-prompt-decorator': { prepend: [{ role: 'system', content: 'You are a financial advisor.' }],
      _meta: { filter: [['intent_category', '==', 'Finance']] } },
    prometheus: {},
    'file-logger': { path: 'intent.log', log_format: { uri: '$request_uri', intent: '$intent_category', error: '$ai_intent_error' } },
  };
  let r = await call('PUT', '/routes/intent', { ...routeTo('/intent/*', port), plugins });
  assert.equal(r.status, 201, r.text);
  r = await call('PUT', '/routes/intent-prompt', { ...routeTo('/intent-prompt/*', port), plugins: { 'ai-intent': {
    scene: { category: 'Finance|Law', prompt: 'Q=%s C=%s 100%%' }, keyFrom: { requestBody: 'messages.0.content' },
    llm: { proxyUrl: `${model.url}/v1/chat/completions`, proxyModel: 'small-model' } } } });
  assert.equal(r.status, 201, r.text);
  await eventually(async () => (await ask('/intent-prompt/ready', 'x')).status === 200);
});

after(async () => {
  await gw?.stop();
  echo?.server.close();
  await model?.close();
});

test('a question is classified: $intent_category set, a later plugin filtered on it runs, the model got Higress\'s request', async () => {
  const r = await ask('/intent/v1/chat/completions?q=stock', 'Should I buy this stock?');
  assert.equal(r.status, 200);
  assert.deepEqual(r.sent.messages[0], { role: 'system', content: 'You are a financial advisor.' });
  const call = model.requests.at(-1)!;
  assert.equal(call.url, '/intent/v1/chat/completions');
  assert.equal(call.headers.authorization, 'Bearer sk-intent');
  const sent = JSON.parse(call.body.toString());
  assert.equal(sent.model, 'qwen-long');
  assert.equal(sent.messages.length, 1);
  assert.match(sent.messages[0].content, /The question is: 'Should I buy this stock\?'\. The preset categories are 'Finance\|Law'/);
  const log = join(gw.dir, 'data', 'logs', 'intent.log');
  const entry = await logEntry(log, 'uri', '/intent/v1/chat/completions?q=stock');
  assert.equal(entry.intent, 'Finance');
  assert.equal(entry.error, null);
  assert.equal(await metricValue(gw, 'gatehouse_ai_intent_classified_total{route="intent",category="Finance"}'), 1);
});

test('a category contained in the answer counts; the filtered plugin skips other categories', async () => {
  const r = await ask('/intent/x?q=court', 'Can I take this to court?');
  assert.equal(r.status, 200);
  assert.equal(r.sent.messages[0].content, 'Be kind.');
  const log = join(gw.dir, 'data', 'logs', 'intent.log');
  assert.equal((await logEntry(log, 'uri', '/intent/x?q=court')).intent, 'Law');
});

test('never refuses: NotFound, a failing model, a slow one and a body without JSON all go on without the variable', async () => {
  const log = join(gw.dir, 'data', 'logs', 'intent.log');
  for (const [q, reason, error] of [
    ['weather', 'no_category', /^the model named no category: NotFound$/],
    ['broken', 'status', /^model answered 503: overloaded$/],
    ['slow', 'timeout', /^model did not answer within 500 ms$/],
  ] as const) {
    const started = Date.now();
    const r = await ask(`/intent/x?q=${q}`, `Something ${q}`);
    assert.equal(r.status, 200, q);
    assert.equal(r.sent.messages[0].content, 'Be kind.');
    assert.ok(Date.now() - started < 1900, 'the timeout bounds the wait');
    const entry = await logEntry(log, 'uri', `/intent/x?q=${q}`);
    assert.equal(entry.intent, null);
    assert.match(String(entry.error), error);
    assert.equal(await metricValue(gw, `gatehouse_ai_intent_failed_total{route="intent",reason="${reason}"}`), 1);
  }
  const r = await get(`${gw.url}/intent/x?q=text`, { method: 'POST', body: 'plain text' });
  assert.equal(r.status, 200);
  assert.match(String((await logEntry(log, 'uri', '/intent/x?q=text')).error), /^no question: could not parse JSON/);
});

test('scene.prompt fills %s as Go\'s Sprintf does; keyFrom.requestBody picks the question; llm.proxyModel', async () => {
  assert.equal((await ask('/intent-prompt/y', 'stock tips')).status, 200);
  const sent = JSON.parse(model.requests.at(-1)!.body.toString());
  assert.equal(sent.model, 'small-model');
  assert.deepEqual(sent.messages, [{ role: 'user', content: 'Q=Be kind. C=Finance|Law 100%' }]);
  assert.equal(model.requests.at(-1)!.headers.authorization, undefined);
});

test('bad config is refused with a 400 naming the field', async () => {
  const llm = { proxyServiceName: 'x.static', proxyUrl: 'http://127.0.0.1:1/v1/chat/completions' };
  await withPluginRoutes('ai-intent', async (put) => {
    for (const [conf, message] of [
      [{ llm }, /scene/],
      [{ scene: { category: 'A' } }, /llm/],
      [{ scene: { category: '' }, llm }, /category/],
      [{ scene: { category: '|' }, llm }, /scene\.category: no category/],
      [{ scene: { category: 'A' }, llm: { proxyServiceName: 'x' } }, /proxyUrl/],
      [{ scene: { category: 'A' }, llm: { ...llm, proxyUrl: 'not a url' } }, /llm\.proxyUrl: "not a url" is not a URL/],
      [{ scene: { category: 'A' }, llm: { ...llm, proxyUrl: 'ftp://h/x' } }, /llm\.proxyUrl: .* not an http or https URL/],
      [{ scene: { category: 'A' }, llm: { ...llm, proxyPort: 0 } }, /proxyPort/],
      [{ scene: { category: 'A' }, llm: { ...llm, proxyTimeout: 0 } }, /proxyTimeout/],
      [{ scene: { category: 'A' }, llm: { ...llm, extra: 1 } }, /additional properties forbidden, found extra/],
      [{ scene: { category: 'A' }, llm, keyFrom: { requestBody: 'messages.#.content' } }, /keyFrom\.requestBody: .*"#"/],
      [{ scene: { category: 'A' }, llm, keyFrom: { responseBody: 'a..b' } }, /keyFrom\.responseBody: .* empty key/],
    ] as const) {
      const r = await put(conf);
      assert.equal(r.status, 400, `${JSON.stringify(conf)}: ${r.text}`);
      assert.match(r.body.error_msg, message);
    }
    assert.equal((await put({ scene: { category: 'A|B' }, llm })).status, 201);
  });
});
