import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { startLoopbackServer, type LoopbackServer, type ReceivedRequest } from '../../helpers/loopback-server.js';
import { get } from '../../helpers/http.js';
import { withPluginRoutes } from '../../helpers/plugin-admin.js';
import { logEntry, metricValue } from '../../helpers/observe.js';
import { startAliyunModeration, startOpenAiModeration, startSilentModeration, type ModerationFake } from '../../helpers/moderation-fakes.js';
import { postChat, streamedChat } from '../../helpers/chat.js';

// ai-security-guard through the gateway, against loopback moderation services (see
// test/helpers/moderation-fakes.ts: they flag "bomb") and a loopback OpenAI-shaped model
// that answers "You said: " and the last message; a prompt containing "provoke" gets an
// answer that ends with the flagged word, streamed in 4-character chunks.

let gw: Gateway;
let llm: LoopbackServer;
let openai: ModerationFake;
let aliyun: ModerationFake;
let silent: ModerationFake;
const prompts: string[] = [];
const API_KEY = 'sk-moderation-secret-1';
const SECRET = 'aliyun-secret-key-1';

function answerChat(req: ReceivedRequest, res: ServerResponse): void {
  prompts.push(req.body.toString());
  const body = JSON.parse(req.body.toString()) as { stream?: boolean; messages?: { content: string }[] };
  const said = body.messages?.at(-1)?.content ?? '';
  const reply = `You said: ${said}${said.includes('provoke') ? '. Well, here is a long answer that goes on for a while and then says bomb' : ''}`;
  if (body.stream !== true) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: 'c1', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: reply }, finish_reason: 'stop' }], usage: { total_tokens: 9 } }));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  if (said === 'huge') {
    res.end(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'x'.repeat(5 * 1024 * 1024) } }] })}\n\ndata: [DONE]\n\n`);
    return;
  }
  const pieces = reply.match(/[\s\S]{1,4}/g) ?? [];
  pieces.forEach((p, i) => res.write(`data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: p }, finish_reason: i === pieces.length - 1 ? 'stop' : null }] })}\n\n`));
  res.end(`data: ${JSON.stringify({ id: 'c1', choices: [], usage: { total_tokens: 9 } })}\n\ndata: [DONE]\n\n`);
}

const LOGGED = { path: 'guard.log', log_format: { uri: '$request_uri', action: '$ai_security_guard_action', phase: '$ai_security_guard_deny_phase', label: '$ai_security_guard_risk_label', checks: '$ai_security_guard_checks' } };

before(async () => {
  [llm, openai, aliyun, silent] = await Promise.all([startLoopbackServer(answerChat), startOpenAiModeration(), startAliyunModeration({ 'test-ak': SECRET }), startSilentModeration()]);
  const upstream = { nodes: { [llm.url.slice('http://'.length)]: 1 } };
  const moderation = { endpoint: `${openai.server.url}/v1/moderations`, api_key: API_KEY, model: 'omni-moderation-latest' };
  const aliyunPort = Number(new URL(aliyun.server.url).port);
  const route = (id: string, conf: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    ({ id, uri: `/${id}`, upstream, plugins: { 'ai-security-guard': conf, ...extra } });
  gw = await startGateway({
    config: {
      routes: [
        route('openai', { moderation, check_request: true, check_response: true, deny_code: 403, bufferLimit: 30 }, { 'file-logger': LOGGED }),
        route('thresholds', { moderation: { ...moderation, thresholds: { hate: 0.5 } }, check_request: true }),
        route('aliyun', { serviceName: 'safecheck.dns', serviceHost: '127.0.0.1', servicePort: aliyunPort, accessKey: 'test-ak', secretKey: SECRET,
          securityToken: 'sts-token', checkRequest: true, checkResponse: true, contentModerationLevelBar: 'high', requestCheckService: 'query_check' }, { 'file-logger': LOGGED }),
        route('aliyun-bad-key', { serviceHost: '127.0.0.1', servicePort: aliyunPort, accessKey: 'test-ak', secretKey: 'wrong', checkRequest: true, fail_mode: 'closed' }),
        route('fail-open', { moderation: { endpoint: `${silent.server.url}/m` }, check_request: true, timeout: 300 }, { 'file-logger': LOGGED }),
        route('fail-closed', { moderation: { endpoint: `${silent.server.url}/m` }, check_request: true, timeout: 300, fail_mode: 'closed', deny_message: 'Moderation is down.' }),
        route('original', { moderation, check_request: true, protocol: 'original', requestContentJsonPath: '$.input.text', deny_message: 'no.' }),
      ],
    },
    extra: { log_dir: '.' },
  });
});

after(async () => {
  await gw?.stop();
  await Promise.all([openai?.close(), aliyun?.close(), silent?.close(), new Promise((r) => llm?.server.close(r))]);
});

const chat = (path: string, content: string, stream = false) => postChat(gw.url + path, content, stream);
const streamed = streamedChat;

test('OpenAI moderation: a clean prompt and answer pass; the last user message is what is checked', async () => {
  const r = await chat('/openai?case=pass', 'hello there');
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json().choices[0].message.content, 'You said: hello there');
  assert.equal(openai.texts.at(-2), 'hello there', 'the prompt: the last user message only');
  assert.equal(openai.texts.at(-1), 'You said: hello there', 'the answer');
  assert.deepEqual(openai.calls.at(-1), { authorization: `Bearer ${API_KEY}`, model: 'omni-moderation-latest' });
  const entry = await logEntry(join(gw.dir, 'guard.log'), 'uri', '/openai?case=pass');
  assert.deepEqual([entry.action, entry.phase, entry.checks], ['pass', null, 2]);
});

test('a flagged prompt is answered by the gateway with deny_code, as JSON or as a stream, and the model is not asked', async () => {
  const series = 'gatehouse_ai_security_guard_denied_total{route="openai",phase="request"}';
  const before = await metricValue(gw, series);
  const seen = prompts.length;
  const r = await chat('/openai?case=deny', 'how to build a BOMB');
  assert.equal(r.status, 403);
  assert.equal(r.json().model, 'from-security-guard');
  assert.equal(r.json().choices[0].message.content, 'Sorry, I cannot answer your question.');
  const s = await chat('/openai', 'how to build a bomb', true);
  assert.equal(s.status, 403);
  assert.match(String(s.headers['content-type']), /^text\/event-stream/);
  const { text, events } = streamed(s.body);
  assert.equal(text, 'Sorry, I cannot answer your question.');
  assert.equal(events.at(-1), '[DONE]');
  assert.equal(prompts.length, seen);
  assert.equal(await metricValue(gw, series), before + 2);
  const entry = await logEntry(join(gw.dir, 'guard.log'), 'uri', '/openai?case=deny');
  assert.deepEqual([entry.action, entry.phase, entry.label], ['denied', 'request', 'violence']);
});

test('a flagged answer: the JSON body is replaced; a stream is cut at the flagged window', async () => {
  const series = 'gatehouse_ai_security_guard_denied_total{route="openai",phase="response"}';
  const before = await metricValue(gw, series);
  const r = await chat('/openai?case=answer', 'please provoke');
  assert.equal(r.status, 200, 'the status was sent already');
  assert.equal(r.json().choices[0].message.content, 'Sorry, I cannot answer your question.');
  const checked = openai.texts.length;
  const s = await chat('/openai', 'please provoke', true);
  const { text, events } = streamed(s.body);
  assert.ok(text.startsWith('You said: please provoke'), text);
  assert.ok(!text.includes('bomb'), text);
  assert.ok(text.endsWith('Sorry, I cannot answer your question.'), text);
  assert.equal(events.filter((e) => e === '[DONE]').length, 1);
  assert.ok(!events.some((e) => e.includes('total_tokens')), 'nothing of the stream after the deny');
  const windows = openai.texts.slice(checked + 1);
  assert.ok(windows.length >= 2, 'the answer was checked in windows as it came');
  assert.ok(windows.slice(0, -1).every((w) => w.length >= 30), JSON.stringify(windows));
  assert.ok(windows.at(-1)!.includes('bomb'), 'the window edge split the word, the overlap saw it whole');
  assert.equal(await metricValue(gw, series), before + 2);
});

test('a clean stream passes whole, in order, with its usage chunk', async () => {
  const s = await chat('/openai', 'tell me a long story about the sea and the wind and the boats', true);
  const { text, events } = streamed(s.body);
  assert.equal(text, 'You said: tell me a long story about the sea and the wind and the boats');
  assert.ok(events.some((e) => e.includes('"total_tokens":9')));
  assert.equal(events.at(-1), '[DONE]');
});

test('a streamed event too large to check ends the stream with the deny message', async () => {
  const series = 'gatehouse_ai_security_guard_skipped_total{route="openai",reason="stream_too_large"}';
  const before = await metricValue(gw, series);
  const s = await chat('/openai', 'huge', true);
  const { text, events } = streamed(s.body);
  assert.equal(text, 'Sorry, I cannot answer your question.');
  assert.equal(events.filter((e) => e === '[DONE]').length, 1);
  assert.equal(await metricValue(gw, series), before + 1);
});

test('moderation.thresholds flag a category by score, whatever `flagged` says', async () => {
  const r = await chat('/thresholds', 'some hate speech');
  assert.equal(r.status, 200);
  assert.equal(r.json().choices[0].message.content, 'Sorry, I cannot answer your question.');
  assert.equal((await chat('/thresholds', 'kind words')).json().choices[0].message.content, 'You said: kind words');
});

test("Aliyun TextModerationPlus: signed requests, the guard's advice as the message, level bars", async () => {
  const ok = await chat('/aliyun?case=pass', 'hello');
  assert.equal(ok.status, 200, ok.body);
  assert.equal(ok.json().choices[0].message.content, 'You said: hello');
  assert.deepEqual(aliyun.calls.at(-2), { service: 'query_check', token: 'sts-token' });
  assert.deepEqual(aliyun.calls.at(-1), { service: 'llm_response_moderation', token: 'sts-token' });
  const denied = await chat('/aliyun?case=deny', 'a weapon please');
  assert.equal(denied.status, 200, 'Higress denyCode default');
  assert.equal(denied.json().choices[0].message.content, 'The guard says no.');
  const entry = await logEntry(join(gw.dir, 'guard.log'), 'uri', '/aliyun?case=deny');
  assert.deepEqual([entry.action, entry.label], ['denied', 'violent_explosion']);
  const s = await chat('/aliyun', 'please provoke', true);
  const { text } = streamed(s.body);
  assert.ok(text.endsWith('The guard says no.') && !text.includes('bomb'), text);
  // a wrong secret: the service refuses the signature, and fail_mode closed blocks
  const refused = await chat('/aliyun-bad-key', 'hello');
  assert.equal(refused.json().choices[0].message.content, 'Sorry, I cannot answer your question.');
});

test('a moderation service that does not answer: fail_mode open passes after the timeout, closed blocks', async () => {
  const errors = 'gatehouse_ai_security_guard_errors_total{route="fail-open",phase="request"}';
  const before = await metricValue(gw, errors);
  const started = Date.now();
  const open = await chat('/fail-open?case=timeout', 'hello');
  assert.equal(open.status, 200);
  assert.equal(open.json().choices[0].message.content, 'You said: hello');
  assert.ok(Date.now() - started < 3000, 'the timeout bounds the wait');
  assert.equal(await metricValue(gw, errors), before + 1);
  const entry = await logEntry(join(gw.dir, 'guard.log'), 'uri', '/fail-open?case=timeout');
  assert.equal(entry.action, 'error');
  const closed = await chat('/fail-closed', 'hello');
  assert.equal(closed.status, 200);
  assert.equal(closed.json().choices[0].message.content, 'Moderation is down.');
});

test('protocol original: the path names the text, the deny message is the JSON body', async () => {
  const r = await get(gw.url + '/original', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input: { text: 'a bomb' } }) });
  assert.equal(r.status, 200);
  assert.equal(r.json(), 'no.');
  assert.equal(openai.texts.at(-1), 'a bomb');
});

test('bad configs are refused naming the field; secrets are masked for viewers and never logged', async () => {
  await withPluginRoutes('ai-security-guard', async (put) => {
    const moderation = { endpoint: 'http://127.0.0.1:9/m' };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{}, /moderation\.endpoint/],
      [{ moderation: { endpoint: 'ftp://x' } }, /endpoint/],
      [{ moderation, accessKey: 'a' }, /accessKey/],
      [{ moderation, check_request: true, checkRequest: false }, /check_request and checkRequest/],
      [{ serviceHost: 'h', accessKey: 'a', secretKey: 's', action: 'MultiModalGuard' }, /action: MultiModalGuard/],
      [{ moderation, consumerRiskLevel: [] }, /consumerRiskLevel/],
      [{ moderation, riskAction: 'mask' }, /riskAction/],
      [{ moderation, requestContentJsonPath: 'messages.#(role=="user").content' }, /requestContentJsonPath/],
      [{ moderation, responseContentFallbackJsonPaths: [] }, /responseContentFallbackJsonPaths/],
    ];
    for (const [conf, message] of cases) {
      const r = await put(conf);
      assert.equal(r.status, 400, JSON.stringify(conf));
      assert.match(String(r.body.error_msg), message);
    }
    assert.equal((await put({ moderation, check_request: true })).status, 201);
  });
  const adminKeys = [{ name: 'a', key: 'guard-admin-key-0001', role: 'admin' as const }, { name: 'v', key: 'guard-viewer-key-001', role: 'viewer' as const }];
  const writable = await startGateway({ store: 'sqlite', adminKeys });
  try {
    const conf = { moderation: { endpoint: 'http://127.0.0.1:9/m', api_key: 'sk-in-clear-1' }, check_request: true };
    const aliyunConf = { serviceHost: '127.0.0.1', servicePort: 9, accessKey: 'ak', secretKey: 'sk-aliyun-in-clear', securityToken: 'sts-in-clear' };
    for (const [id, c] of [['g1', conf], ['g2', aliyunConf]] as const) {
      const created = await get(`${writable.adminUrl}/routes/${id}`, {
        method: 'PUT', headers: { 'X-API-KEY': 'guard-admin-key-0001', 'content-type': 'application/json' },
        body: JSON.stringify({ uri: `/${id}`, upstream: { nodes: { '127.0.0.1:1': 1 } }, plugins: { 'ai-security-guard': c } }),
      });
      assert.ok(created.status < 300, created.body);
    }
    const read = (id: string) => get(`${writable.adminUrl}/routes/${id}`, { headers: { 'X-API-KEY': 'guard-viewer-key-001' } });
    assert.equal((await read('g1')).json().value.plugins['ai-security-guard'].moderation.api_key, '******');
    const g2 = (await read('g2')).json().value.plugins['ai-security-guard'];
    assert.deepEqual([g2.secretKey, g2.securityToken, g2.accessKey], ['******', '******', 'ak']);
    assert.doesNotMatch(writable.output(), /in-clear/);
  } finally {
    await writable.stop();
  }
  assert.doesNotMatch(gw.output(), new RegExp(`${API_KEY}|${SECRET}`));
});
