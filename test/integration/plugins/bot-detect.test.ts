import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Gateway } from '../../helpers/gateway.js';
import { startWithAdminRoute } from '../../helpers/admin-route.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get, rawRequest } from '../../helpers/http.js';
import { routeTo, type AdminCall } from '../admin/client.js';
import { logEntry } from '../../helpers/observe.js';

let gw: Gateway;
let up: TestUpstream;
let call: AdminCall;
const BROWSER = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';

before(async () => {
  ({ gw, up, call } = await startWithAdminRoute('bd', '/bd/*', {
    prometheus: {},
    'file-logger': { path: 'bd.log', log_format: { uri: '$request_uri', match: '$bot_detect_match', pattern: '$bot_detect_pattern' } },
    'bot-detect': { allow: ['MyMonitor'], deny: ['spd-tools'], blocked_message: 'bots not allowed' },
  }, { path: '/bd/x', headers: { 'user-agent': BROWSER } }));
});

after(async () => {
  await gw?.stop();
  await up?.close();
});

test('browsers, HTTP clients and allowed monitors pass', async () => {
  for (const ua of [BROWSER, 'curl/8.5.0', 'python-requests/2.31.0', 'MyMonitor-bot/1.0']) {
    assert.equal((await get(gw.url + '/bd/x', { headers: { 'user-agent': ua } })).status, 200, ua);
  }
});

test('known crawlers and deny matches are refused', async () => {
  for (const ua of ['Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)', 'spd-tools/1.2', 'Scrapy/2.11.0']) {
    const r = await get(gw.url + '/bd/x', { headers: { 'user-agent': ua } });
    assert.equal(r.status, 403, ua);
    assert.equal(r.body, 'bots not allowed');
  }
});

test('a request without a User-Agent is answered at once (refused), not left waiting', async () => {
  const started = performance.now();
  const reply = await rawRequest(gw.httpPort, 'GET /bd/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 5000);
  assert.match(reply, /^HTTP\/1\.1 403 /);
  assert.match(reply, /bots not allowed$/);
  assert.ok(performance.now() - started < 4000);
  const empty = await rawRequest(gw.httpPort, 'GET /bd/x HTTP/1.1\r\nHost: x\r\nUser-Agent:\r\nConnection: close\r\n\r\n', 5000);
  assert.match(empty, /^HTTP\/1\.1 403 /);
});

test('refusals are counted by status and the plugin by its cost, in the metrics', async () => {
  await get(gw.url + '/bd/x', { headers: { 'user-agent': 'bingbot/2.0' } });
  const text = await (await get(gw.metricsUrl)).body;
  assert.match(text, /^apisix_http_status\{code="403",route="bd",/m);
  assert.match(text, /^gatehouse_plugin_phase_duration_seconds_count\{plugin="bot-detect",phase="access"\} [1-9]/m);
});

test('the access log says which list decided and what matched ($bot_detect_match, $bot_detect_pattern)', async () => {
  const cases: [string, string | undefined, unknown, unknown][] = [
    ['google', 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)', 'builtin', 'Googlebot/2.1'],
    ['deny', 'spd-tools/1.2', 'deny', 'spd-tools'],
    ['allow', 'MyMonitor-bot/1.0', 'allow', 'MyMonitor'],
    ['browser', BROWSER, null, null],
  ];
  for (const [tag, ua] of cases) await get(`${gw.url}/bd/x?${tag}`, { headers: { 'user-agent': ua! } });
  await rawRequest(gw.httpPort, 'GET /bd/x?none HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 5000);
  const log = join(gw.dir, 'data', 'logs', 'bd.log');
  for (const [tag, , match, pattern] of cases) {
    const entry = await logEntry(log, 'uri', `/bd/x?${tag}`);
    assert.deepEqual([entry.match, entry.pattern], [match, pattern], tag);
  }
  assert.equal((await logEntry(log, 'uri', '/bd/x?none')).match, 'no_user_agent');
});

test('bad config is refused with a 400 naming the field', async () => {
  for (const [conf, field] of [
    [{ deny: ['(unclosed'] }, 'deny'],
    [{ allow: 'x' }, 'allow'],
    [{ blocked_code: 1000 }, 'blocked_code'],
    [{ blocked_mesage: 'typo' }, 'blocked_mesage'],
  ] as const) {
    const r = await call('PUT', '/routes/bad', { ...routeTo('/bad', up.port), plugins: { 'bot-detect': conf } });
    assert.equal(r.status, 400, r.text);
    assert.match(r.body.error_msg, new RegExp(field));
  }
});
