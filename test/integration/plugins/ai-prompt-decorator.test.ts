import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { startLoopbackServer, type LoopbackServer, type ReceivedRequest } from '../../helpers/loopback-server.js';
import { get } from '../../helpers/http.js';
import { withPluginRoutes } from '../../helpers/plugin-admin.js';
import { adminClient, routeTo } from '../admin/client.js';
import { logEntry, metricValue } from '../../helpers/observe.js';

// Through the gateway to an echo upstream that answers with the body it got.

let gw: Gateway;
let echo: LoopbackServer;
const received: ReceivedRequest[] = [];
const SYSTEM = { role: 'system', content: 'Answer briefly.' };
const LAST = { role: 'user', content: 'End with a summary line.' };
const post = async (path: string, body: unknown): Promise<{ status: number; json: any }> => {
  const r = await get(gw.url + path, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  return { status: r.status, json: r.status === 200 ? JSON.parse(received.at(-1)!.body.toString()) : r.json() };
};

before(async () => {
  echo = await startLoopbackServer((req, res) => {
    received.push(req);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  gw = await startGateway({ store: 'sqlite', workers: 1 });
  const call = adminClient(gw);
  const port = Number(new URL(echo.url).port);
  const logger = { prometheus: {}, 'file-logger': { path: 'apd.log', log_format: {
    uri: '$request_uri', protocol: '$ai_prompt_decorator_protocol', error: '$ai_prompt_decorator_error' } } };
  const decorator = { prepend: [SYSTEM], append: [LAST], max_req_body_size: 4096 };
  for (const [id, plugins] of [
    ['apd', { 'ai-prompt-decorator': decorator, ...logger }],
    ['apd-both', { 'ai-prompt-decorator': { prepend: [SYSTEM] }, 'ai-prompt-template': { templates: [
      { name: 'ask', template: { model: 'm', messages: [{ role: 'user', content: 'Tell me about {{topic}}.' }] } }] } }],
  ] as const) {
    const r = await call('PUT', `/routes/${id}`, { ...routeTo(`/${id}/*`, port), plugins });
    assert.equal(r.status, 201, r.text);
  }
  await eventually(async () => (await post('/apd-both/ready', { template_name: 'ask', topic: 'x' })).status === 200);
});

after(async () => {
  await gw?.stop();
  echo?.server.close();
});

test('chat: the configured messages around the client\'s, the same on every request (no build-up)', async () => {
  const body = { model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'What is TCP?' }] };
  for (let i = 0; i < 3; i++) {
    const r = await post(`/apd/v1/chat/completions?n=${i}`, body);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { model: 'gpt-4o', stream: true, messages: [SYSTEM, body.messages[0], LAST] });
  }
  const sent = received.at(-1)!;
  assert.equal(Number(sent.headers['content-length']), sent.body.length);
  const log = join(gw.dir, 'data', 'logs', 'apd.log');
  assert.equal((await logEntry(log, 'uri', '/apd/v1/chat/completions?n=0')).protocol, 'openai-chat');
  assert.equal(await metricValue(gw, 'gatehouse_ai_prompt_decorator_decorated_total{route="apd",protocol="openai-chat"}'), 3);
});

test('Anthropic messages, the Responses API and bodies of no chat shape', async () => {
  assert.deepEqual((await post('/apd/v1/messages', { model: 'claude', max_tokens: 10 })).json,
    { model: 'claude', max_tokens: 10, messages: [SYSTEM, LAST] });
  assert.deepEqual((await post('/apd/v1/responses', { model: 'o', input: 'Hi', instructions: 'Be kind.' })).json,
    { model: 'o', input: 'Hi\nEnd with a summary line.', instructions: 'Answer briefly.\nBe kind.' });
  assert.deepEqual((await post('/apd/v1/responses', { input: [{ role: 'user', content: 'Hi' }] })).json, {
    input: [{ role: 'user', content: 'Hi' }, { type: 'message', role: 'user', content: 'End with a summary line.' }],
    instructions: 'Answer briefly.',
  });
  assert.deepEqual((await post('/apd/v1/embeddings', { model: 'e', input: 'text' })).json, { model: 'e', input: 'text' });
  assert.deepEqual((await post('/apd/v1/completions', { model: 'c', prompt: 'p' })).json, { model: 'c', prompt: 'p' });
  assert.deepEqual((await post('/apd/empty', {})).json, { messages: [SYSTEM, LAST] });
  const log = join(gw.dir, 'data', 'logs', 'apd.log');
  assert.equal((await logEntry(log, 'uri', '/apd/v1/embeddings')).protocol, 'openai-embeddings');
});

test('a template filled first (priority 500), then decorated (450)', async () => {
  const r = await post('/apd-both/chat', { template_name: 'ask', topic: 'DNS' });
  assert.deepEqual(r.json, { model: 'm', messages: [SYSTEM, { role: 'user', content: 'Tell me about DNS.' }] });
});

test('refused: APISIX\'s body messages, shapes that cannot take messages, max_req_body_size; logged', async () => {
  const before = received.length;
  for (const [path, body, status, message] of [
    ['/apd/x?empty', '', 400, 'could not get body: request body is empty'],
    ['/apd/x?bad', '{', 400, /^could not parse JSON request body: /],
    ['/apd/v1/chat/completions?obj', { messages: { role: 'user' } }, 400, 'messages must be an array'],
    ['/apd/v1/responses?obj', { input: { a: 1 } }, 400, 'input must be a string or an array'],
    ['/apd/x?large', { messages: [{ role: 'user', content: 'x'.repeat(5000) }] }, 413, /^request size \d+ is greater than the maximum size 4096 allowed$/],
  ] as const) {
    const r = await post(path, body);
    assert.equal(r.status, status, path);
    if (typeof message === 'string') assert.deepEqual(r.json, { message });
    else assert.match(r.json.message, message);
  }
  assert.equal(received.length, before);
  const log = join(gw.dir, 'data', 'logs', 'apd.log');
  assert.equal((await logEntry(log, 'uri', '/apd/v1/chat/completions?obj')).error, 'messages must be an array');
  assert.equal(await metricValue(gw, 'gatehouse_plugin_responses_total{plugin="ai-prompt-decorator",route="apd",code="400"}'), 4);
});

test('bad config is refused with a 400 naming the field', async () => {
  await withPluginRoutes('ai-prompt-decorator', async (put) => {
    for (const [conf, message] of [
      [{}, /prepend or append is required/],
      [{ max_req_body_size: 10 }, /prepend or append is required/],
      [{ prepend: [{ role: 'tool', content: 'x' }] }, /role/],
      [{ append: [{ role: 'user' }] }, /content/],
      [{ append: [{ role: 'user', content: '' }] }, /content/],
      [{ append: [{ role: 'user', content: 'x', name: 'n' }] }, /additional properties forbidden, found name/],
      [{ prepend: [SYSTEM], max_req_body_size: 0 }, /max_req_body_size/],
      [{ prepend: [SYSTEM], typo: 1 }, /additional properties forbidden, found typo/],
    ] as const) {
      const r = await put(conf);
      assert.equal(r.status, 400, `${JSON.stringify(conf)}: ${r.text}`);
      assert.match(r.body.error_msg, message);
    }
    assert.equal((await put({ prepend: [] })).status, 201, 'an empty list is accepted, as in APISIX');
  });
});
