import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { startLoopbackServer, type LoopbackServer } from '../../helpers/loopback-server.js';
import { startFakeLlm, type FakeLlm } from '../../helpers/fake-llm.js';
import { get } from '../../helpers/http.js';
import { withPluginRoutes } from '../../helpers/plugin-admin.js';
import { adminClient, routeTo } from '../admin/client.js';
import { logEntry, metricValue } from '../../helpers/observe.js';

// Through the gateway: the fake model rewrites the HTTP message it is shown by the
// instruction (its second system message); the upstream echoes the request it got, or
// answers XML, or streams.

let gw: Gateway;
let upstream: LoopbackServer;
let model: FakeLlm;

/** The message the model was shown, split as Higress frames it. */
function shown(frame: string): { headers: Map<string, string>; body: string } {
  const blank = frame.indexOf('\n\n');
  const headers = new Map(frame.slice(0, blank).split('\n').map((l) => [l.slice(0, l.indexOf(':', 1)), l.slice(l.indexOf(':', 1) + 1)] as [string, string]));
  return { headers, body: frame.slice(blank + 2) };
}

before(async () => {
  upstream = await startLoopbackServer((req, res) => {
    if (req.url.startsWith('/at/xml')) {
      res.writeHead(200, { 'content-type': 'application/xml', 'x-upstream': 'kept?' }).end('<answer>42</answer>');
    } else if (req.url.startsWith('/at/sse')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' }).end('data: {"a":1}\n\n');
    } else {
      res.writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: req.body.toString() }));
    }
  });
  model = await startFakeLlm({ respond: (frame, body) => {
    const messages = body.messages ?? body.input.messages;
    const instruction: string = messages[1].content;
    const dashscope = body.input !== undefined;
    const { headers, body: text } = shown(frame);
    if (instruction.includes('uppercase')) {
      const lines = [...headers].filter(([n]) => n !== 'x-drop').map(([n, v]) => (n === ':path' ? `${n}:/at/rewritten` : `${n}:${v}`));
      return { content: `${lines.join('\n')}\nx-added: yes\n\n${text.toUpperCase()}`, dashscope };
    }
    if (instruction.includes('XML')) {
      return { content: `content-type:application/json\nx-converted:${headers.get(':status')}\n\n{"answer":${text.replace(/\D/g, '')}}` };
    }
    return { content: 'Sorry, I can only chat.' };
  } });
  gw = await startGateway({ store: 'sqlite', workers: 1 });
  const call = adminClient(gw);
  const port = Number(new URL(upstream.url).port);
  const provider = { serviceName: 'model.dns', domain: `${model.url}/v1/chat/completions`, apiKey: 'sk-t', model: 'small' };
  const logger = { prometheus: {}, 'file-logger': { path: 'at.log', log_format: {
    uri: '$request_uri', request: '$ai_transformer_request', response: '$ai_transformer_response' } } };
  const off = { enable: false, prompt: '' };
  for (const [id, plugins] of [
    ['at-req', { 'ai-transformer': { request: { enable: true, prompt: 'Make the body uppercase.' }, response: off, provider }, ...logger }],
    ['at-res', { 'ai-transformer': { request: off, response: { enable: true, prompt: 'Convert the XML body to JSON.' }, provider }, ...logger }],
    ['at-bad', { 'ai-transformer': { request: { enable: true, prompt: 'Translate.' }, response: { enable: true, prompt: 'Translate.' }, provider }, ...logger }],
    ['at-dash', { 'ai-transformer': { request: { enable: true, prompt: 'uppercase it' },
      provider: { domain: `${model.url}/api/v1/services/aigc/text-generation/generation`, apiKey: 'sk-d' } } }],
  ] as const) {
    const rewrite = { 'proxy-rewrite': { regex_uri: [`^/${id}/(.*)`, '/at/$1'] } };
    const r = await call('PUT', `/routes/${id}`, { ...routeTo(`/${id}/*`, port), plugins: { ...plugins, ...rewrite } });
    assert.equal(r.status, 201, r.text);
  }
  await eventually(async () => (await get(`${gw.url}/at-res/xml/ready`)).status === 200);
});

after(async () => {
  await gw?.stop();
  upstream?.server.close();
  await model?.close();
});

test('request: the model sees header lines, a blank line and the body; its answer replaces headers, path and body', async () => {
  const r = await get(`${gw.url}/at-req/echo?q=1`, { method: 'POST', body: 'hello model',
    headers: { 'content-type': 'text/plain', 'x-drop': 'gone', 'x-keep': 'kept', authorization: 'Bearer client', cookie: 'sid=1' } });
  assert.equal(r.status, 200);
  const got = r.json();
  assert.equal(got.url, '/at/rewritten');
  assert.equal(got.body, 'HELLO MODEL');
  assert.equal(got.headers['x-added'], 'yes');
  assert.equal(got.headers['x-keep'], 'kept');
  assert.equal(got.headers['x-drop'], undefined);
  assert.equal(got.headers.authorization, 'Bearer client', 'credentials are kept, not shown to the model');
  assert.equal(got.headers.cookie, 'sid=1');
  assert.equal(Number(got.headers['content-length']), 11);
  const call = model.requests.at(-1)!;
  assert.equal(call.headers.authorization, 'Bearer sk-t');
  const sent = JSON.parse(call.body.toString());
  assert.equal(sent.model, 'small');
  assert.equal(sent.messages[0].role, 'system');
  assert.match(sent.messages[0].content, /HTTP\/1\.1 protocol expert/);
  assert.deepEqual(sent.messages[1], { role: 'system', content: 'Make the body uppercase.' });
  const frame = shown(sent.messages[2].content);
  assert.equal(frame.headers.get(':method'), 'POST');
  assert.equal(frame.headers.get(':path'), '/at/echo?q=1');
  assert.equal(frame.headers.get('x-drop'), 'gone');
  assert.equal(frame.headers.get('authorization'), undefined);
  assert.equal(frame.headers.get('cookie'), undefined);
  assert.equal(frame.body, 'hello model');
  const log = join(gw.dir, 'data', 'logs', 'at.log');
  assert.equal((await logEntry(log, 'uri', '/at-req/echo?q=1')).request, 'transformed');
  assert.equal(await metricValue(gw, 'gatehouse_ai_transformer_transformed_total{route="at-req",side="request"}'), 1);
});

test('response: held whole, rewritten with the model\'s headers; a streamed response passes unchanged', async () => {
  const r = await get(`${gw.url}/at-res/xml`);
  assert.equal(r.status, 200);
  assert.equal(r.body, '{"answer":42}');
  assert.equal(r.headers['content-type'], 'application/json');
  assert.equal(r.headers['x-converted'], '200');
  assert.equal(r.headers['x-upstream'], undefined);
  const sse = await get(`${gw.url}/at-res/sse`);
  assert.equal(sse.body, 'data: {"a":1}\n\n');
  const log = join(gw.dir, 'data', 'logs', 'at.log');
  assert.equal((await logEntry(log, 'uri', '/at-res/xml')).response, 'transformed');
  assert.equal((await logEntry(log, 'uri', '/at-res/sse')).response, 'unchanged: a streamed response is not rewritten');
});

test('an answer that is no HTTP message leaves request and response as they were', async () => {
  const r = await get(`${gw.url}/at-bad/xml`, { method: 'POST', body: 'keep me' });
  assert.equal(r.status, 200);
  assert.equal(r.body, '<answer>42</answer>');
  assert.equal(r.headers['content-type'], 'application/xml');
  const log = join(gw.dir, 'data', 'logs', 'at.log');
  const entry = await logEntry(log, 'uri', '/at-bad/xml');
  assert.equal(entry.request, 'unchanged: the model\'s answer is not an HTTP message');
  assert.equal(entry.response, 'unchanged: the model\'s answer is not an HTTP message');
  assert.equal(await metricValue(gw, 'gatehouse_ai_transformer_unchanged_total{route="at-bad",side="response",reason="unparsable"}'), 1);
});

test('DashScope\'s native API at its path: input.messages, output.text, model qwen-max', async () => {
  const r = await get(`${gw.url}/at-dash/echo`, { method: 'POST', body: 'native' });
  assert.equal(r.json().body, 'NATIVE');
  const sent = JSON.parse(model.requests.at(-1)!.body.toString());
  assert.equal(sent.model, 'qwen-max');
  assert.equal(sent.input.messages.length, 3);
  assert.equal(model.requests.at(-1)!.url, '/api/v1/services/aigc/text-generation/generation');
});

test('bad config is refused with a 400 naming the field', async () => {
  const provider = { serviceName: 'q.dns', domain: 'dashscope.aliyuncs.com', apiKey: 'sk' };
  await withPluginRoutes('ai-transformer', async (put) => {
    for (const [conf, message] of [
      [{ request: { enable: true, prompt: 'x' } }, /provider/],
      [{ provider: { domain: 'd.example' } }, /apiKey/],
      [{ provider: { ...provider, domain: 'a/b' } }, /provider\.domain: "a\/b" is not a host name/],
      [{ provider: { ...provider, domain: 'ftp://x/y' } }, /provider\.domain/],
      [{ provider, request: { enable: true } }, /prompt/],
      [{ provider, response: { prompt: 'x' } }, /enable/],
      [{ provider: { ...provider, port: 80 } }, /additional properties forbidden, found port/],
    ] as const) {
      const r = await put(conf);
      assert.equal(r.status, 400, `${JSON.stringify(conf)}: ${r.text}`);
      assert.match(r.body.error_msg, message);
    }
    assert.equal((await put({ provider, response: { enable: true, prompt: 'Convert the XML body to JSON' } })).status, 201);
  });
});
