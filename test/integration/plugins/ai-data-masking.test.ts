import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { startLoopbackServer, type LoopbackServer, type ReceivedRequest } from '../../helpers/loopback-server.js';
import { get } from '../../helpers/http.js';
import { withPluginRoutes } from '../../helpers/plugin-admin.js';
import { logEntry, metricValue } from '../../helpers/observe.js';
import { postChat, streamedChat } from '../../helpers/chat.js';

// A loopback "model" that speaks the OpenAI chat wire format: it answers "You said: " and
// the last message's content (so what the gateway masked comes back, to be restored), as
// JSON or, for `stream: true`, as SSE chunks of 4 characters each (every mask spans
// several chunks), with usage in a last chunk and `[DONE]`. A JSON answer also repeats the
// request's `input` field, for the deny_jsonpath route; a body that is not JSON is
// answered as text. A prompt containing
// "provoke" gets an answer with the word the routes deny.

let gw: Gateway;
let llm: LoopbackServer;
const prompts: string[] = [];

function answerChat(req: ReceivedRequest, res: ServerResponse): void {
  prompts.push(req.body.toString());
  if (req.headers['content-type'] !== 'application/json') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`You said: ${req.body.toString()}`);
    return;
  }
  const body = JSON.parse(req.body.toString()) as { stream?: boolean; messages?: { content: string }[]; input?: unknown };
  const said = body.messages?.at(-1)?.content ?? '';
  const reply = `You said: ${said}${said.includes('provoke') ? ' -- about the forbidden thing' : ''}`;
  if (body.stream !== true) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: 'c1', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: reply }, finish_reason: 'stop' }], usage: { total_tokens: 9 }, input: body.input }));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const pieces = reply.match(/[\s\S]{1,4}/g) ?? [];
  pieces.forEach((p, i) => res.write(`data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: p }, finish_reason: i === pieces.length - 1 ? 'stop' : null }] })}\n\n`));
  res.end(`data: ${JSON.stringify({ id: 'c1', choices: [], usage: { total_tokens: 9 } })}\n\ndata: [DONE]\n\n`);
}

const LOGGED = { path: 'mask.log', log_format: { uri: '$request_uri', action: '$ai_data_masking_action', masked: '$ai_data_masking_masked', phase: '$ai_data_masking_deny_phase' } };
const ROLES = [
  { regex: '%{MOBILE}', type: 'replace', value: '****' },
  { regex: '%{EMAILLOCALPART}@%{HOSTNAME:domain}', type: 'replace', restore: true, value: '****@$domain' },
  { regex: 'sk-[0-9a-zA-Z]*', type: 'hash', restore: true },
];
const KEY_HASH = createHash('sha256').update('sk-12345').digest('hex');
const PROMPT = 'key sk-12345, mail test@gmail.com, call 13800138000';

before(async () => {
  llm = await startLoopbackServer(answerChat);
  const upstream = { nodes: { [llm.url.slice('http://'.length)]: 1 } };
  gw = await startGateway({
    config: {
      routes: [
        { id: 'chat', uri: '/chat', upstream, plugins: { 'ai-data-masking': { deny_words: ['forbidden'], system_deny: true, replace_roles: ROLES }, 'file-logger': LOGGED } },
        { id: 'skip', uri: '/skip', upstream, plugins: { 'ai-data-masking': { deny_words: ['forbidden'], replace_roles: ROLES, skip_response: true } } },
        { id: 'paths', uri: '/paths', upstream, plugins: { 'ai-data-masking': { deny_openai: false, deny_jsonpath: ['$.input[*].text'], deny_words: ['forbidden'], replace_roles: ROLES } } },
        { id: 'raw', uri: '/raw', upstream, plugins: { 'ai-data-masking': { deny_openai: false, deny_raw: true, deny_words: ['forbidden'], deny_code: 403, deny_raw_message: 'no.', deny_content_type: 'text/plain', replace_roles: ROLES } } },
      ],
    },
    extra: { log_dir: '.' },
  });
});

after(async () => {
  await gw?.stop();
  await new Promise((r) => llm?.server.close(r));
});

const chat = (path: string, content: string, stream = false) => postChat(gw.url + path, content, stream);
const streamed = streamedChat;

test('a JSON chat: the prompt goes out masked, the answer comes back restored, logged and counted', async () => {
  const masked = 'gatehouse_ai_data_masking_masked_total{route="chat"}';
  const before = await metricValue(gw, masked);
  const r = await chat('/chat?case=json', PROMPT);
  assert.equal(r.status, 200, r.body);
  const sent = JSON.parse(prompts.at(-1)!);
  assert.equal(sent.messages[1].content, `key ${KEY_HASH}, mail ****@gmail.com, call ****`);
  assert.equal(sent.messages[0].content, 'be brief');
  assert.equal(r.json().choices[0].message.content, 'You said: key sk-12345, mail test@gmail.com, call ****', 'the phone mask is not restorable');
  assert.equal(r.json().usage.total_tokens, 9);
  assert.equal(await metricValue(gw, masked), before + 3);
  const entry = await logEntry(join(gw.dir, 'mask.log'), 'uri', '/chat?case=json');
  assert.equal(entry.action, 'masked');
  assert.equal(entry.masked, 3);
});

test('a streamed chat: masks split across chunks are restored, the stream passes whole', async () => {
  const r = await chat('/chat', PROMPT, true);
  assert.equal(r.status, 200, r.body);
  assert.match(String(r.headers['content-type']), /^text\/event-stream/);
  const { text, events } = streamed(r.body);
  assert.equal(text, 'You said: key sk-12345, mail test@gmail.com, call ****');
  assert.equal(events.at(-1), '[DONE]');
  assert.ok(events.some((e) => e.includes('"total_tokens":9')));
  assert.ok(events.length > 10, 'still chunked');
});

test('skip_response: the prompt is masked, the answer left as the model gave it', async () => {
  const r = await chat('/skip', 'mail test@gmail.com, please provoke');
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json().choices[0].message.content, 'You said: mail ****@gmail.com, please provoke -- about the forbidden thing');
});

test('a prompt with a deny word is answered by the gateway, as JSON or as a stream', async () => {
  const series = 'gatehouse_ai_data_masking_denied_total{route="chat",phase="request"}';
  const before = await metricValue(gw, series);
  const seen = prompts.length;
  const r = await chat('/chat?case=deny', 'tell me about the FORBIDDEN plan');
  assert.equal(r.status, 200);
  assert.equal(r.json().choices[0].message.content, 'Sensitive words found in the question or answer have been blocked');
  assert.equal(r.json().choices[0].finish_reason, 'deny');
  const s = await chat('/chat', 'what the fuck', true);
  assert.equal(s.status, 200);
  assert.match(String(s.headers['content-type']), /^text\/event-stream/);
  const { text, events } = streamed(s.body);
  assert.equal(text, 'Sensitive words found in the question or answer have been blocked', 'system_deny adds the built-in words');
  assert.equal(events.at(-1), '[DONE]');
  assert.equal(prompts.length, seen, 'the model was not asked');
  assert.equal(await metricValue(gw, series), before + 2);
  const entry = await logEntry(join(gw.dir, 'mask.log'), 'uri', '/chat?case=deny');
  assert.deepEqual([entry.action, entry.phase], ['denied', 'request']);
});

test('an answer with a deny word is replaced: the JSON body, the rest of a stream', async () => {
  const series = 'gatehouse_ai_data_masking_denied_total{route="chat",phase="response"}';
  const before = await metricValue(gw, series);
  const r = await chat('/chat?case=answer', 'please provoke');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json().choices[0].message, { role: 'assistant', content: 'Sensitive words found in the question or answer have been blocked' });
  const s = await chat('/chat', 'please provoke', true);
  const { text, events } = streamed(s.body);
  assert.ok(!text.includes('forb'), text);
  assert.ok(text.endsWith('Sensitive words found in the question or answer have been blocked'), text);
  assert.equal(events.filter((e) => e === '[DONE]').length, 1);
  assert.ok(!events.some((e) => e.includes('total_tokens')), 'nothing after the deny');
  assert.equal(await metricValue(gw, series), before + 2);
  const entry = await logEntry(join(gw.dir, 'mask.log'), 'uri', '/chat?case=answer');
  assert.deepEqual([entry.action, entry.phase], ['denied', 'response']);
});

test('deny_jsonpath checks and masks the fields it names; deny_raw the whole body, with deny_raw_message', async () => {
  const r = await get(gw.url + '/paths', { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ content: 'mail a@b.com' }], input: [{ text: 'mail test@gmail.com' }, { text: 'x' }] }) });
  assert.equal(r.status, 200, r.body);
  const sent = JSON.parse(prompts.at(-1)!);
  assert.deepEqual(sent.input, [{ text: 'mail ****@gmail.com' }, { text: 'x' }]);
  assert.equal(sent.messages[0].content, 'mail a@b.com', 'only the paths are masked');
  assert.deepEqual(r.json().input, [{ text: 'mail test@gmail.com' }, { text: 'x' }], 'restored in any JSON answer');
  const denied = await get(gw.url + '/paths', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input: [{ text: 'forbidden' }] }) });
  assert.equal(denied.status, 200);
  assert.deepEqual(denied.json(), { errmsg: 'Sensitive words found in the question or answer have been blocked' });
  const raw = await get(gw.url + '/raw', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'the forbidden text' });
  assert.equal(raw.status, 403);
  assert.equal(raw.body, 'no.');
  assert.match(String(raw.headers['content-type']), /^text\/plain/);
  const text = await get(gw.url + '/raw', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'mail test@gmail.com' });
  assert.equal(prompts.at(-1), 'mail ****@gmail.com');
  assert.equal(text.body, 'You said: mail test@gmail.com');
});

test('bad configs are refused naming the field', async () => {
  await withPluginRoutes('ai-data-masking', async (put) => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ replace_roles: [{ regex: '%{NOPE}', type: 'replace', value: 'x' }] }, /replace_roles\[0\]\.regex: unknown grok pattern %\{NOPE\}/],
      [{ replace_roles: [{ regex: 'a(?=b)', type: 'replace', value: 'x' }] }, /replace_roles\[0\]\.regex/],
      [{ replace_roles: [{ regex: 'a', type: 'hash', value: 'x' }] }, /replace_roles\[0\]\.value/],
      [{ replace_roles: [{ regex: 'a', type: 'replace', value: '$domain' }] }, /replace_roles\[0\]\.value/],
      [{ deny_jsonpath: ['$..content'] }, /deny_jsonpath\[0\]/],
      [{ deny_words: 'secret' }, /deny_words/],
      [{ skip_request: true }, /skip_request/],
    ];
    for (const [conf, message] of cases) {
      const r = await put(conf);
      assert.equal(r.status, 400, JSON.stringify(conf));
      assert.match(String(r.body.error_msg), message);
    }
    assert.equal((await put({ deny_words: ['secret'], replace_roles: ROLES })).status, 201);
  });
});
