import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { startFakeLlm, type FakeLlm } from '../../helpers/fake-llm.js';
import { get } from '../../helpers/http.js';
import { logEntry, metricValue } from '../../helpers/observe.js';
import { adminClient, type AdminCall } from '../admin/client.js';

// ai-token-ratelimit without `redis`, on a gateway with two workers: the node's counters,
// shared by both. Each fake answer uses 8 tokens (3 prompt + 5 completion), counted at the
// answer's end: with 10 tokens a minute the first two calls pass (the second overshoots)
// and the third is refused. Behind ai-proxy and with the model as the route's upstream.

let gw: Gateway;
let llm: FakeLlm;
let call: AdminCall;

const chat = (extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'say hello twice' }], ...extra });

/** A chat on a fresh connection, so that the two workers take turns. */
const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  get(gw.url + path, { method: 'POST', headers: { 'content-type': 'application/json', connection: 'close', ...headers }, body });

before(async () => {
  llm = await startFakeLlm();
  gw = await startGateway({ store: 'sqlite', workers: 2 });
  call = adminClient(gw);
  const routes: Record<string, Record<string, unknown>> = {};
  routes.proxied = {
    uri: '/proxied/*',
    plugins: {
      'ai-token-ratelimit': {
        rule_name: 'proxied', rejected_code: 503, rejected_msg: 'token budget spent',
        rule_items: [{ limit_by_header: 'x-user', limit_keys: [{ key: 'alice', token_per_minute: 10 }, { key: 'bob', token_per_hour: 100 }] }],
      },
      'ai-proxy': { provider: 'openai-compatible', auth: { header: { Authorization: 'Bearer sk' } }, override: { endpoint: `${llm.url}/v1/chat/completions` } },
      'file-logger': { path: 'tokens.log', log_format: { uri: '$request_uri', status: '$status', key: '$ai_token_ratelimit_key', limited: '$ai_token_ratelimit_status' } },
    },
  };
  routes.plain = {
    uri: '/v1/*',
    upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${new URL(llm.url).port}`]: 1 } },
    plugins: { 'ai-token-ratelimit': { rule_name: 'plain', global_threshold: { token_per_minute: 10 } } },
  };
  for (const [id, route] of Object.entries(routes)) {
    const r = await call('PUT', `/routes/${id}`, route);
    assert.ok(r.status === 200 || r.status === 201, r.text);
  }
  await eventually(async () => (await post('/proxied/probe', chat(), { 'x-user': 'carol' })).status === 200);
});

after(async () => {
  await gw?.stop();
  await llm?.close();
});

test('behind ai-proxy: counted on the real usage at the answer\'s end; one call may overshoot, the next is refused', async () => {
  const rejected = 'gatehouse_ai_token_ratelimit_rejected_total{route="proxied"}';
  const before = await metricValue(gw, rejected);
  assert.equal((await post('/proxied/a1', chat(), { 'x-user': 'alice' })).status, 200);
  // the tokens are added after the answer was sent: wait for the window to hold them
  let second = 0;
  await eventually(async () => (second = (await post('/proxied/a2', chat({ stream: true }), { 'x-user': 'alice' })).status) === 503);
  assert.equal(second, 503);
  const r = await post('/proxied/a3', chat(), { 'x-user': 'alice' });
  assert.equal(r.status, 503);
  assert.equal(r.body, 'token budget spent');
  const reset = Number(r.headers['x-tokenratelimit-reset']);
  assert.ok(reset > 0 && reset <= 60, `X-TokenRateLimit-Reset: ${reset}`);
  assert.equal((await post('/proxied/b1', chat(), { 'x-user': 'bob' })).status, 200, 'another key has its own window');
  assert.equal((await post('/proxied/x', chat(), { 'x-user': 'nobody' })).status, 200, 'a value no limit_keys entry takes is not limited');
  assert.ok(await metricValue(gw, rejected) >= before + 2);
  const log = join(gw.dir, 'data', 'logs', 'tokens.log');
  const refused = await logEntry(log, 'uri', '/proxied/a3');
  assert.deepEqual([refused.status, refused.key, refused.limited],
    [503, 'higress-token-ratelimit:proxied:limit_by_header:60:x-user:alice', 'limited']);
});

test('without ai-proxy: the tokens of streamed answers are read from the stream', async () => {
  const sse = chat({ stream: true, stream_options: { include_usage: true } });
  const first = await post('/v1/chat/completions', sse);
  assert.equal(first.status, 200);
  assert.match(first.body, /"usage"/);
  let status = 0;
  await eventually(async () => (status = (await post('/v1/chat/completions', sse)).status) === 429);
  assert.equal(status, 429);
  const r = await post('/v1/chat/completions', chat());
  assert.equal(r.status, 429);
  assert.equal(r.body, 'Too many requests');
  assert.ok(r.headers['x-tokenratelimit-reset'] !== undefined);
});

test('bad config is refused naming the field', async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ rule_name: 'x' }, /global_threshold, rule_items: exactly one/],
    [{ rule_name: 'x', global_threshold: { query_per_minute: 1 } }, /query_per_minute/],
    [{ rule_name: 'x', global_threshold: { token_per_minute: 0 } }, /global_threshold: one of token_per_second/],
    [{ rule_name: 'x', rule_items: [{ limit_by_header: 'a', limit_keys: [{ key: 'k', query_per_minute: 1 }] }] }, /query_per_minute/],
    [{ rule_name: 'x', rule_items: [{ limit_by_per_header: 'a', limit_keys: [{ key: 'regexp:(', token_per_minute: 1 }] }] }, /rule_items\[0\]\.limit_keys\[0\]/],
    [{ rule_name: 'x', global_threshold: { token_per_minute: 1 }, show_limit_quota_header: true }, /show_limit_quota_header/],
    [{ rule_name: 'x', global_threshold: { token_per_minute: 1 }, redis: { service_name: 'redis.static' } }, /redis.service_name/],
  ];
  for (const [conf, message] of cases) {
    const r = await call('PUT', '/routes/bad', { uri: '/bad', upstream: { type: 'roundrobin', nodes: { '127.0.0.1:1': 1 } }, plugins: { 'ai-token-ratelimit': conf } });
    assert.equal(r.status, 400, JSON.stringify(conf));
    assert.match(r.body.error_msg, message);
  }
});
