import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { startFakeLlm, type FakeLlm } from '../../helpers/fake-llm.js';
import { get } from '../../helpers/http.js';
import { logEntry, metricValue } from '../../helpers/observe.js';
import { adminClient, type AdminCall } from '../admin/client.js';

// ai-rate-limiting on a gateway with two workers (policy local: the node's counters, shared
// by both; every request is on a fresh connection so the workers take turns). Each fake
// answer uses 3 prompt + 5 completion = 8 tokens, charged when the request ends.

let gw: Gateway;
let alpha: FakeLlm;
let beta: FakeLlm;
let call: AdminCall;

const AUTH = { header: { Authorization: 'Bearer sk' } };
const LOG_FORMAT = { uri: '$request_uri', status: '$status', instance: '$ai_rate_limiting_instance', cost: '$ai_rate_limiting_cost', limited: '$ai_rate_limiting_status' };
const chat = (extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'say hello twice' }], ...extra });
const post = (path: string, headers: Record<string, string> = {}, body = chat()) =>
  get(gw.url + path, { method: 'POST', headers: { 'content-type': 'application/json', connection: 'close', ...headers }, body });
const proxy = (llm: FakeLlm) => ({ provider: 'openai-compatible', auth: AUTH, override: { endpoint: `${llm.url}/v1/chat/completions` } });
const instance = (name: string, llm: FakeLlm, priority: number) => ({
  name, provider: 'openai-compatible', auth: AUTH, weight: 1, priority, options: { model: `${name}-model` }, override: { endpoint: `${llm.url}/v1/chat/completions` },
});

async function route(id: string, plugins: Record<string, unknown>): Promise<void> {
  const r = await call('PUT', `/routes/${id}`, { uri: `/${id}/*`, plugins: { ...plugins, 'file-logger': { path: `${id}.log`, log_format: LOG_FORMAT } } });
  assert.ok(r.status === 200 || r.status === 201, r.text);
}

/** Waits until the tokens of the last answer were charged: the remaining budget reads `remaining`. */
async function charged(path: string, header: string, remaining: number, headers: Record<string, string> = {}): Promise<void> {
  let seen: unknown;
  await eventually(async () => {
    const r = await post(path, headers);
    seen = r.headers[header];
    return seen === String(remaining) || (remaining === 0 && r.status !== 200);
  });
}

before(async () => {
  [alpha, beta] = await Promise.all([startFakeLlm(), startFakeLlm()]);
  gw = await startGateway({ store: 'sqlite', workers: 2 });
  call = adminClient(gw);
});

after(async () => {
  await gw?.stop();
  await Promise.all([alpha?.close(), beta?.close()]);
});

test('behind ai-proxy: the budget of ai-proxy-<provider>; one call overshoots, the next is refused; both workers share it', async () => {
  await route('single', {
    'ai-rate-limiting': { limit: 12, time_window: 60, rejected_code: 429, rejected_msg: 'token quota exceeded' },
    'ai-proxy': proxy(alpha),
  });
  let first;
  await eventually(async () => (first = await post('/single/probe-0')).status === 200);
  const H = 'x-ai-ratelimit-remaining-ai-proxy-openai-compatible';
  assert.equal(first!.headers['x-ai-ratelimit-limit-ai-proxy-openai-compatible'], '12');
  assert.equal(first!.headers[H], '12', 'the dry run costs nothing');
  const reset = Number(first!.headers['x-ai-ratelimit-reset-ai-proxy-openai-compatible']);
  assert.ok(reset > 0 && reset <= 60, `reset ${reset}`);
  // 8 charged: 4 left; the next call (a stream) passes and overshoots to 16
  await eventually(async () => {
    const r = await post('/single/stream', {}, chat({ stream: true }));
    return r.status === 200 && r.headers[H] === '4';
  });
  const before = await metricValue(gw, 'gatehouse_ai_rate_limiting_rejected_total{route="single"}');
  await charged('/single/wait', H, 0);
  const r = await post('/single/refused');
  assert.equal(r.status, 429);
  assert.deepEqual(r.json(), { error_msg: 'token quota exceeded' });
  assert.equal(r.headers[H], '0');
  assert.equal(alpha.requests.filter((q) => q.url.includes('refused')).length, 0, 'a refused call never reaches the provider');
  assert.ok(await metricValue(gw, 'gatehouse_ai_rate_limiting_rejected_total{route="single"}') > before);
  assert.ok(await metricValue(gw, 'gatehouse_ai_rate_limiting_tokens_total{route="single",instance="ai-proxy-openai-compatible"}') >= 8);
  const log = join(gw.dir, 'data', 'logs', 'single.log');
  const refused = await logEntry(log, 'uri', '/single/refused');
  assert.deepEqual([refused.status, refused.instance, refused.cost, refused.limited], [429, 'ai-proxy-openai-compatible', 0, 'limited']);
  const passed = await logEntry(log, 'uri', '/single/probe-0');
  assert.deepEqual([passed.instance, passed.cost, passed.limited], ['ai-proxy-openai-compatible', 8, null]);
});

test('ai-proxy-multi: per-instance budgets; without a rate-limiting strategy the picked spent instance is refused', async () => {
  await route('strict', {
    'ai-rate-limiting': { instances: [{ name: 'a', limit: 5, time_window: 60 }] },
    'ai-proxy-multi': { instances: [instance('a', alpha, 1), instance('b', beta, 0)] },
  });
  let first;
  await eventually(async () => (first = await post('/strict/one')).status === 200);
  assert.equal(first!.json().model, 'a-model');
  assert.equal(first!.headers['x-ai-ratelimit-limit-a'], '5');
  await charged('/strict/wait', 'x-ai-ratelimit-remaining-a', 0);
  const r = await post('/strict/two');
  assert.equal(r.status, 503, 'the default rejected_code');
  assert.match(r.body, /503 Service Temporarily Unavailable/);
});

test('ai-proxy-multi with instance_health_and_rate_limiting: a spent instance is skipped for the next; none left → 503', async () => {
  await route('skip', {
    'ai-rate-limiting': { instances: [{ name: 'a', limit: 5, time_window: 60 }, { name: 'b', limit: 5, time_window: 60 }], rejected_code: 429 },
    'ai-proxy-multi': { fallback_strategy: 'instance_health_and_rate_limiting', instances: [instance('a', alpha, 1), instance('b', beta, 0)] },
  });
  let first;
  await eventually(async () => (first = await post('/skip/one')).status === 200);
  assert.equal(first!.json().model, 'a-model');
  let second;
  await eventually(async () => {
    second = await post('/skip/two');
    return second.status === 200 && second.json().model === 'b-model';
  });
  assert.equal(second!.headers['x-ai-ratelimit-remaining-a'], '0', 'the skipped instance says it is spent');
  assert.equal(second!.headers['x-ai-ratelimit-limit-b'], '5');
  let last;
  await eventually(async () => (last = await post('/skip/three')).status === 503);
  assert.equal(last!.body, 'all servers tried');
  const log = await logEntry(join(gw.dir, 'data', 'logs', 'skip.log'), 'uri', '/skip/two');
  assert.deepEqual([log.instance, log.cost], ['b', 8]);
});

test('array strategy rate_limiting with http_429: after a 429 fallback the tokens go to the instance that answered', async () => {
  await route('arr', {
    'ai-rate-limiting': { limit: 100, time_window: 60, instances: [{ name: 'a', limit: 100, time_window: 60 }] },
    'ai-proxy-multi': { fallback_strategy: ['rate_limiting', 'http_429'], instances: [instance('a', alpha, 1), instance('b', beta, 0)] },
  });
  await eventually(async () => (await post('/arr/probe')).status === 200);
  alpha.queue({ status: 429, body: { error: 'busy' } });
  const r = await post('/arr/fallback');
  assert.equal(r.status, 200);
  assert.equal(r.json().model, 'b-model');
  assert.equal(r.headers['x-ai-ratelimit-limit-a'], '100', 'headers are those of the instance picked first');
  const log = await logEntry(join(gw.dir, 'data', 'logs', 'arr.log'), 'uri', '/arr/fallback');
  assert.deepEqual([log.instance, log.cost], ['b', 8], 'b has no budget of its own: the shared top-level one');
});

test('rules: budgets keyed on request variables, headers X-AI-<prefix|index>-RateLimit-*', async () => {
  await route('rules', {
    'ai-rate-limiting': {
      rules: [{ count: 10, time_window: 60, key: '${http_x_user ?? anonymous}', header_prefix: 'user' }, { count: 1000, time_window: 3600, key: 'r-${route_id}' }],
      rejected_code: 429,
    },
    'ai-proxy': proxy(alpha),
  });
  let first;
  await eventually(async () => (first = await post('/rules/one', { 'x-user': 'alice' })).status === 200);
  assert.equal(first!.headers['x-ai-user-ratelimit-limit'], '10');
  assert.equal(first!.headers['x-ai-2-ratelimit-limit'], '1000');
  await charged('/rules/two', 'x-ai-user-ratelimit-remaining', 0, { 'x-user': 'alice' });
  const r = await post('/rules/three', { 'x-user': 'alice' });
  assert.equal(r.status, 429);
  assert.equal(r.headers['x-ai-user-ratelimit-remaining'], '0');
  const bob = await post('/rules/bob', { 'x-user': 'bob' });
  assert.equal(bob.status, 200, 'another key, another budget');
  assert.equal(bob.headers['x-ai-user-ratelimit-remaining'], '10');
  assert.ok(Number(bob.headers['x-ai-2-ratelimit-remaining']) <= 1000 - 16, 'the second rule counts every user');
});

test('limit_strategy expression: cost_expr over the raw usage', async () => {
  await route('expr', {
    'ai-rate-limiting': { limit: 20, time_window: 60, limit_strategy: 'expression', cost_expr: 'prompt_tokens + completion_tokens * 3 + cached_tokens', show_limit_quota_header: false },
    'ai-proxy': proxy(alpha),
  });
  await eventually(async () => (await post('/expr/one')).status === 200);
  const log = await logEntry(join(gw.dir, 'data', 'logs', 'expr.log'), 'uri', '/expr/one');
  assert.equal(log.cost, 18, '3 + 5 * 3, cached_tokens missing: 0');
  let refused;
  await eventually(async () => (refused = await post('/expr/more')).status === 503);
  assert.equal(refused!.headers['x-ai-ratelimit-limit-ai-proxy-openai-compatible'], undefined, 'show_limit_quota_header false');
});

test('a lone ai-proxy-multi instance is used as it is: under a rate-limiting strategy its spent budget is refused, not skipped', async () => {
  await route('lone', {
    'ai-rate-limiting': { instances: [{ name: 'only', limit: 5, time_window: 60 }], rejected_code: 429, rejected_msg: 'spent' },
    'ai-proxy-multi': { fallback_strategy: 'instance_health_and_rate_limiting', instances: [instance('only', alpha, 0)] },
  });
  await eventually(async () => (await post('/lone/one')).status === 200);
  let r;
  await eventually(async () => (r = await post('/lone/two')).status === 429);
  assert.deepEqual(r!.json(), { error_msg: 'spent' });
});

test('a Redis that cannot answer: 500 failed to limit count, or the request passes with allow_degradation', async () => {
  const redis = { policy: 'redis', redis_host: '127.0.0.1', redis_port: 1, redis_timeout: 300 };
  await route('strictredis', { 'ai-rate-limiting': { limit: 100, time_window: 60, ...redis }, 'ai-proxy': proxy(alpha) });
  await route('degrade', { 'ai-rate-limiting': { limit: 100, time_window: 60, allow_degradation: true, ...redis }, 'ai-proxy': proxy(alpha) });
  let r;
  await eventually(async () => (r = await post('/strictredis/x')).status === 500);
  assert.deepEqual(r!.json(), { error_msg: 'failed to limit count' });
  await eventually(async () => (await post('/degrade/x')).status === 200);
});

test('bad config is refused with APISIX\'s messages', async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ limit: 1, time_window: 1, rules: [{ count: 1, time_window: 1, key: '$remote_addr' }] }, /value should match only one schema, but matches both schemas 1 and 2/],
    [{ limit: 1 }, /time_window/],
    [{ limit: 1, time_window: 1, limit_strategy: 'expression' }, /cost_expr is required when limit_strategy is 'expression'/],
    [{ limit: 1, time_window: 1, limit_strategy: 'expression', cost_expr: 'a +' }, /invalid cost_expr: /],
    [{ limit: 1, time_window: 1, limit_strategy: 'expression', cost_expr: 'os.exit(1)' }, /invalid cost_expr: /],
    [{ limit: 1, time_window: 1, cost_expr: 'a' }, /cost_expr: only used when limit_strategy is 'expression'/],
    [{ instances: [{ name: 'a', limit: 1, time_window: 1 }, { name: 'a', limit: 2, time_window: 1 }] }, /instances\[1\]\.name: duplicate/],
    [{ limit: 1, time_window: 1, policy: 'redis-sentinel' }, /policy/],
    [{ limit: 1, time_window: 1, redis_host: '127.0.0.1' }, /redis_host is not a field of policy "local"/],
    [{ limit: 'x', time_window: 1 }, /limit: "x" is neither a positive integer nor names a variable/],
    [{ limit: 1, time_window: 1, window_type: 'sliding' }, /window_type/],
  ];
  for (const [conf, message] of cases) {
    const r = await call('PUT', '/routes/bad', { uri: '/bad', plugins: { 'ai-rate-limiting': conf, 'ai-proxy': proxy(alpha) } });
    assert.equal(r.status, 400, JSON.stringify(conf));
    assert.match(r.body.error_msg, message, JSON.stringify(conf));
  }
});
