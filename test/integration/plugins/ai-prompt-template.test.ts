import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { startLoopbackServer, type LoopbackServer, type ReceivedRequest } from '../../helpers/loopback-server.js';
import { get, rawRequest } from '../../helpers/http.js';
import { withPluginRoutes } from '../../helpers/plugin-admin.js';
import { adminClient, routeTo } from '../admin/client.js';
import { logEntry, metricValue } from '../../helpers/observe.js';

// Through the gateway to an echo upstream: what the upstream gets is the filled template,
// not the client's body.

let gw: Gateway;
let echo: LoopbackServer;
const received: ReceivedRequest[] = [];
const CONF = {
  templates: [
    { name: 'translate', template: { model: 'gpt-4o-mini', temperature: 0.2, messages: [
      { role: 'system', content: 'Translate to {{lang}}.' }, { role: 'user', content: '{{text}}' }] } },
    { name: 'count', template: { model: 'm', messages: [{ role: 'user', content: 'Count to {{n}}: {*raw*}' }] } },
    { name: 'thrice', template: { messages: [{ role: 'user', content: '{*raw*}{*raw*}{*raw*}' }] } },
  ],
  max_req_body_size: 200,
};
const post = (path: string, body: string): ReturnType<typeof get> =>
  get(gw.url + path, { method: 'POST', body, headers: { 'content-type': 'application/json' } });

before(async () => {
  echo = await startLoopbackServer((req, res) => {
    received.push(req);
    res.writeHead(200, { 'content-type': 'application/json' }).end(req.body);
  });
  gw = await startGateway({ store: 'sqlite', workers: 1 });
  const call = adminClient(gw);
  const logger = { prometheus: {}, 'file-logger': { path: 'apt.log', log_format: {
    uri: '$request_uri', template: '$ai_prompt_template_name', error: '$ai_prompt_template_error' } } };
  const r = await call('PUT', '/routes/apt', { ...routeTo('/apt/*', Number(new URL(echo.url).port)), plugins: { 'ai-prompt-template': CONF, ...logger } });
  assert.equal(r.status, 201, r.text);
  await eventually(async () => (await post('/apt/ready', '{"template_name":"count","n":1}')).status === 200);
});

after(async () => {
  await gw?.stop();
  echo?.server.close();
});

test('the upstream gets the named template filled from the body, and nothing else of the body', async () => {
  const r = await post('/apt/chat?one', JSON.stringify({ template_name: 'translate', lang: 'French', text: 'Say "hi" <now>\\n', stream: true }));
  assert.equal(r.status, 200, r.body);
  const sent = received.at(-1)!;
  assert.equal(Number(sent.headers['content-length']), sent.body.length);
  assert.deepEqual(JSON.parse(sent.body.toString()), {
    model: 'gpt-4o-mini', temperature: 0.2,
    messages: [{ role: 'system', content: 'Translate to French.' }, { role: 'user', content: 'Say &quot;hi&quot; &lt;now&gt;\\n' }],
  });
  const count = await post('/apt/chat?two', JSON.stringify({ template_name: 'count', n: 3, raw: '<b>' }));
  assert.deepEqual(count.json().messages, [{ role: 'user', content: 'Count to 3: <b>' }]);
  const log = join(gw.dir, 'data', 'logs', 'apt.log');
  assert.equal((await logEntry(log, 'uri', '/apt/chat?one')).template, 'translate');
  assert.equal(await metricValue(gw, 'gatehouse_ai_prompt_template_rendered_total{route="apt",template="translate"}'), 1);
});

test('refused with APISIX\'s messages, logged; nothing reaches the upstream', async () => {
  const before = received.length;
  const LARGE = JSON.stringify({ template_name: 'count', n: 'x'.repeat(250) });
  for (const [body, status, message] of [
    ['', 400, 'could not get body: request body is empty'],
    ['{"template_name":', 400, /^could not parse JSON request body: /],
    ['[1]', 400, 'could not parse JSON request body: request body is not a JSON object'],
    ['{"lang":"French"}', 400, 'template name is missing in request.'],
    ['{"template_name":"nope"}', 400, 'template: nope not configured.'],
    ['{"template_name":7}', 400, 'template: 7 not configured.'],
    ['{"template_name":"count","n":{"a":1}}', 400, 'template variable n is an object: only strings, numbers and booleans fill a template'],
    [LARGE, 413, `request size ${LARGE.length} is greater than the maximum size 200 allowed`],
    [JSON.stringify({ template_name: 'thrice', raw: 'y'.repeat(80) }), 413, 'the rendered template is larger than 200 characters'],
  ] as const) {
    const r = await post(`/apt/bad?${status}-${received.length}`, body);
    assert.equal(r.status, status, `${body}: ${r.body}`);
    if (typeof message === 'string') assert.deepEqual(r.json(), { message });
    else assert.match(r.json().message, message);
  }
  const chunked = await rawRequest(gw.httpPort, `POST /apt/chunked HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n12a\r\n${'{"a":"' + 'z'.repeat(290) + '"}'}\r\n0\r\n\r\n`);
  assert.match(chunked, /^HTTP\/1\.1 413 /);
  assert.equal(received.length, before);
  const log = join(gw.dir, 'data', 'logs', 'apt.log');
  assert.equal((await logEntry(log, 'uri', `/apt/bad?400-${before}`)).error, 'could not get body: request body is empty');
  assert.equal(await metricValue(gw, 'gatehouse_plugin_responses_total{plugin="ai-prompt-template",route="apt",code="413"}'), 3);
});

test('bad config is refused with a 400 naming the field', async () => {
  await withPluginRoutes('ai-prompt-template', async (put) => {
    for (const [conf, message] of [
      [{}, /templates/],
      [{ templates: [] }, /templates/],
      [{ templates: [{ name: 'a' }] }, /template/],
      [{ templates: [{ name: 'a', template: { messages: [{ role: 'tool', content: 'x' }] } }] }, /role/],
      [{ templates: [{ name: 'a', template: { messages: [{ role: 'user', content: '' }] } }] }, /content/],
      [{ templates: [{ name: 'a', template: {} }, { name: 'a', template: {} }] }, /templates\[1\]\.name: "a" is already the name/],
      [{ templates: [{ name: 'a', template: { messages: [{ role: 'user', content: '{% os.exit() %}' }] } }] }, /templates\[0\]\.template\.messages\[0\]\.content: .*Lua code/],
      [{ templates: [{ name: 'a', template: { model: '{{ a.b }}' } }] }, /templates\[0\]\.template\.model: .*top-level field/],
      [{ templates: [{ name: 'a', template: {} }], max_req_body_size: 0 }, /max_req_body_size/],
      [{ templates: [{ name: 'a', template: {} }], typo: 1 }, /additional properties forbidden, found typo/],
    ] as const) {
      const r = await put(conf);
      assert.equal(r.status, 400, `${JSON.stringify(conf)}: ${r.text}`);
      assert.match(r.body.error_msg, message);
    }
  });
});
