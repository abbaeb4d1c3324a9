import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { startFakeLlm, type FakeLlm } from '../../helpers/fake-llm.js';
import { get } from '../../helpers/http.js';
import { logEntry, metricValue } from '../../helpers/observe.js';
import { adminClient, type AdminCall } from '../admin/client.js';

let gw: Gateway;
let alpha: FakeLlm;
let beta: FakeLlm;
let gamma: FakeLlm;
let call: AdminCall;

const AUTH = { header: { Authorization: 'Bearer sk-test' } };
const LOG_FORMAT = { uri: '$request_uri', instance: '$ai_proxy_multi_instance', model: '$llm_model', total: '$llm_total_tokens' };
const chat = (extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ model: 'client-model', messages: [{ role: 'user', content: 'say hello twice' }], ...extra });

const instance = (name: string, llm: FakeLlm, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  name, provider: 'openai-compatible', auth: AUTH, weight: 1, options: { model: `${name}-model` },
  override: { endpoint: `${llm.url}/v1/chat/completions` }, ...extra,
});

function post(path: string, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  return get(gw.url + path, { method: 'POST', headers, body });
}

async function multiRoute(id: string, conf: Record<string, unknown>, probeStatus = 200): Promise<void> {
  const r = await call('PUT', `/routes/${id}`, {
    uri: `/${id}/*`,
    plugins: { 'ai-proxy-multi': conf, 'file-logger': { path: `${id}.log`, log_format: LOG_FORMAT } },
  });
  assert.ok(r.status === 200 || r.status === 201, r.text);
  await eventually(async () => (await post(`/${id}/probe`, chat())).status === probeStatus);
}

/** Which instance answered each of `n` requests (by the model each fake provider echoes). */
async function answeredBy(path: string, n: number, headers?: Record<string, string>): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await post(path, chat(), { 'content-type': 'application/json', ...headers });
    assert.equal(r.status, 200, r.body);
    out.push(String(r.json().model).replace(/-model$/, ''));
  }
  return out;
}

const count = (names: string[], name: string): number => names.filter((n) => n === name).length;

before(async () => {
  [alpha, beta, gamma] = await Promise.all([startFakeLlm(), startFakeLlm(), startFakeLlm()]);
  gw = await startGateway({ store: 'sqlite', workers: 1 });
  call = adminClient(gw);
});

after(async () => {
  await gw?.stop();
  await Promise.all([alpha?.close(), beta?.close(), gamma?.close()]);
});

test('weights share the requests (3:1 over 8 requests gives 6 and 2); a route needs no upstream', async () => {
  await multiRoute('weighted', { instances: [instance('alpha', alpha, { weight: 3 }), instance('beta', beta)] });
  const got = await answeredBy('/weighted/x', 8);
  assert.equal(count(got, 'alpha'), 6, got.join());
  assert.equal(count(got, 'beta'), 2, got.join());
  const sent = alpha.last();
  assert.equal(sent.headers.authorization, 'Bearer sk-test');
  assert.equal(sent.json.model, 'alpha-model', 'the chosen instance\'s options are applied');
});

test('the highest priority group takes every request; weight 0 is never picked', async () => {
  await multiRoute('prio', {
    instances: [instance('alpha', alpha), instance('beta', beta, { priority: 5, weight: 2 }), instance('gamma', gamma, { priority: 5, weight: 0 })],
  });
  assert.deepEqual(await answeredBy('/prio/x', 4), ['beta', 'beta', 'beta', 'beta']);
});

test('chash: the same key always goes to the same instance, different keys spread', async () => {
  await multiRoute('hashed', {
    balancer: { algorithm: 'chash', hash_on: 'header', key: 'X-User' },
    instances: [instance('alpha', alpha), instance('beta', beta), instance('gamma', gamma)],
  });
  const seen = new Set<string>();
  for (let u = 0; u < 12; u++) {
    const got = await answeredBy('/hashed/x', 3, { 'x-user': `user-${u}` });
    assert.equal(new Set(got).size, 1, `user-${u}: ${got.join()}`);
    seen.add(got[0]!);
  }
  assert.ok(seen.size >= 2, 'twelve keys reach more than one instance');
});

test('no instance with weight: 503 all servers tried, and the providers are not called', async () => {
  const before = alpha.requests.length;
  await multiRoute('none', { instances: [instance('alpha', alpha, { weight: 0 }), instance('beta', alpha, { weight: 0 })] }, 503);
  const r = await post('/none/x', chat());
  assert.equal(r.status, 503);
  assert.equal(r.body, 'all servers tried');
  assert.equal(alpha.requests.length, before);
});

test('a streamed chat flows through the chosen instance; the log names it with the llm_* variables', async () => {
  await multiRoute('stream', { instances: [instance('gamma', gamma)] });
  const series = 'gatehouse_ai_proxy_multi_requests_total{route="stream",provider="openai-compatible",model="gamma-model",status="200"}';
  const counted = await metricValue(gw, series);
  const res = await request(`${gw.url}/stream/log-stream`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: chat({ stream: true }),
  });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/event-stream/);
  const text = await res.body.text();
  assert.match(text, /data: \[DONE\]/);
  assert.deepEqual(gamma.last().json.stream_options, { include_usage: true });
  const entry = await logEntry(join(gw.dir, 'data', 'logs', 'stream.log'), 'uri', '/stream/log-stream');
  assert.equal(entry.instance, 'gamma');
  assert.equal(entry.model, 'gamma-model');
  assert.equal(entry.total, 8);
  await eventually(async () => (await metricValue(gw, series)) === counted + 1);
});

const limited = { status: 429, body: { error: { message: 'Rate limit reached' } } };
const broken = { status: 500, body: 'upstream broke' };

/** alpha first (priority 2), then beta (1), then gamma (0); alpha's key goes in its own header and query. */
const chain = (extra: Record<string, unknown>): Record<string, unknown> => ({
  instances: [
    instance('alpha', alpha, { priority: 2, auth: { header: { 'x-alpha-key': 'a-secret' }, query: { alpha_key: 'a-q' } } }),
    instance('beta', beta, { priority: 1 }),
    instance('gamma', gamma),
  ],
  ...extra,
});

test('fallback: alpha\'s 429 and 500 are dropped and one client request gets beta\'s answer, without alpha\'s credentials', async () => {
  await multiRoute('fallback', chain({ fallback_strategy: ['http_429', 'http_5xx'] }));
  const series = 'gatehouse_ai_proxy_multi_fallbacks_total{route="fallback",from="alpha",to="beta",status="429"}';
  const counted = await metricValue(gw, series);
  for (const [reply, path] of [[limited, '/fallback/429'], [broken, '/fallback/500']] as const) {
    const [alphaSeen, betaSeen] = [alpha.requests.length, beta.requests.length];
    alpha.queue(reply);
    const r = await post(`${path}?trace=1`, chat());
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json().model, 'beta-model');
    assert.equal(alpha.requests.length, alphaSeen + 1);
    assert.equal(beta.requests.length, betaSeen + 1);
    const got = beta.last();
    assert.equal(got.url, '/v1/chat/completions?trace=1', 'the client\'s query, without alpha\'s auth.query');
    assert.equal(got.headers['x-alpha-key'], undefined);
    assert.equal(got.headers.authorization, 'Bearer sk-test');
    assert.equal(got.json.model, 'beta-model');
    const entry = await logEntry(join(gw.dir, 'data', 'logs', 'fallback.log'), 'uri', `${path}?trace=1`);
    assert.equal(entry.instance, 'beta');
    assert.equal(entry.model, 'beta-model');
  }
  assert.equal(await metricValue(gw, series), counted + 1);
});

test('fallback: a status the strategy does not name, or fallback_http_statuses', async () => {
  await multiRoute('only429', chain({ fallback_strategy: 'http_429', fallback_http_statuses: [503] }));
  alpha.queue(broken);
  const r = await post('/only429/x', chat());
  assert.equal(r.status, 500, 'http_429 alone lets a 500 through');
  assert.equal(r.body, 'upstream broke');
  alpha.queue({ status: 503, body: 'busy' });
  const listed = await post('/only429/y', chat());
  assert.equal(listed.status, 200);
  assert.equal(listed.json().model, 'beta-model');
});

test('fallback: every instance fails, max_retries, retry_on_failure_within_ms', async () => {
  await multiRoute('spent', chain({ fallback_strategy: ['http_429'] }));
  alpha.queue(limited);
  beta.queue(limited);
  const third = await post('/spent/x', chat());
  assert.equal(third.status, 200, 'beta is down too: the next priority, gamma, answers');
  assert.equal(third.json().model, 'gamma-model');
  alpha.queue(limited);
  beta.queue(limited);
  gamma.queue({ ...limited, body: { error: { message: 'gamma limited' } } });
  const all = await post('/spent/y', chat());
  assert.equal(all.status, 429, 'no instance left: the last answer goes to the client');
  assert.equal(all.json().error.message, 'gamma limited');

  await multiRoute('retries', chain({ fallback_strategy: ['http_429'], max_retries: 1 }));
  alpha.queue(limited);
  beta.queue({ ...limited, body: { error: { message: 'beta limited' } } });
  const gammaSeen = gamma.requests.length;
  const one = await post('/retries/x', chat());
  assert.equal(one.status, 429);
  assert.equal(one.json().error.message, 'beta limited');
  assert.equal(gamma.requests.length, gammaSeen, 'max_retries 1: gamma is never asked');

  await multiRoute('within', chain({ fallback_strategy: ['http_429'], retry_on_failure_within_ms: 100 }));
  alpha.queue({ ...limited, delayMs: 300 });
  const slow = await post('/within/x', chat());
  assert.equal(slow.status, 429, 'a failure slower than retry_on_failure_within_ms is not retried');
  alpha.queue({ ...limited, delayMs: 10 });
  const quick = await post('/within/y', chat());
  assert.equal(quick.status, 200);
  assert.equal(quick.json().model, 'beta-model');
});

test('fallback: a streamed chat falls back and streams from the next instance', async () => {
  alpha.queue(limited);
  const res = await request(`${gw.url}/fallback/stream`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: chat({ stream: true }),
  });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/event-stream/);
  const text = await res.body.text();
  assert.match(text, /"model":"beta-model"/);
  assert.match(text, /data: \[DONE\]/);
  const entry = await logEntry(join(gw.dir, 'data', 'logs', 'fallback.log'), 'uri', '/fallback/stream');
  assert.equal(entry.instance, 'beta');
  assert.equal(entry.total, 8);
});

test('an instance its active health check marks down is skipped; none up: 503 all servers tried', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const deadPort = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const checks = { active: { type: 'tcp', healthy: { interval: 1, successes: 1 }, unhealthy: { interval: 1, tcp_failures: 1 } } };
  const dead = (name: string, extra: Record<string, unknown> = {}): Record<string, unknown> =>
    instance(name, alpha, { override: { endpoint: `http://127.0.0.1:${deadPort}/v1/chat/completions` }, checks, ...extra });
  await multiRoute('health', { instances: [dead('down', { priority: 1 }), instance('beta', beta, { checks })] });
  assert.deepEqual(await answeredBy('/health/x', 4), ['beta', 'beta', 'beta', 'beta'], 'the higher priority is down: beta serves');
  await multiRoute('alldown', { instances: [dead('down1'), dead('down2')] }, 503);
  const r = await post('/alldown/x', chat());
  assert.equal(r.status, 503);
  assert.equal(r.body, 'all servers tried');
});

test('without a fallback strategy a provider\'s 429 reaches the client as it is', async () => {
  await multiRoute('single', { instances: [instance('alpha', alpha)] });
  alpha.queue(limited);
  const r = await post('/single/x', chat());
  assert.equal(r.status, 429);
  assert.equal(r.json().error.message, 'Rate limit reached');
});

test('bad configurations are refused with a 400 naming the field', async () => {
  const ok = [instance('alpha', alpha), instance('beta', beta)];
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ instances: [] }, /instances/],
    [{ instances: [{ name: 'a', provider: 'openai', auth: AUTH }] }, /weight/],
    [{ instances: [instance('alpha', alpha), instance('alpha', beta)] }, /instances\[1\]\.name: duplicate/],
    [{ instances: ok, fallback_strategy: 'http_404' }, /fallback_strategy/],
    [{ instances: ok, fallback_http_statuses: [200] }, /fallback_http_statuses/],
    [{ instances: ok, max_retries: 1 }, /max_retries: needs fallback_strategy/],
    [{ instances: ok, retry_on_failure_within_ms: 100 }, /retry_on_failure_within_ms: needs fallback_strategy/],
    [{ instances: ok, fallback_strategy: 'http_429', max_retries: -1 }, /max_retries/],
    [{ instances: ok, semantic_opts: {} }, /semantic_opts: not built/],
    [{ instances: ok, balancer: { algorithm: 'semantic' } }, /balancer\.algorithm: semantic/],
    [{ instances: ok, balancer: { algorithm: 'chash' } }, /balancer\.hash_on/],
    [{ instances: ok, balancer: { algorithm: 'chash', hash_on: 'header' } }, /balancer\.key/],
    [{ instances: [instance('alpha', alpha, { checks: { active: { type: 'udp' } } })] }, /instances\[0\]/],
    [{ instances: [instance('alpha', alpha, { checks: { passive: {} } })] }, /checks/],
    [{ instances: [instance('alpha', alpha, { provider_conf: {} })] }, /instances\[0\]\.provider_conf: not built/],
    [{ instances: [instance('alpha', alpha, { provider: 'bedrock' })] }, /instances\[0\]\.provider/],
    [{ instances: [{ ...instance('alpha', alpha), override: undefined, provider: 'openai-compatible' }] }, /instances\[0\]/],
  ];
  for (const [conf, message] of cases) {
    const r = await call('PUT', '/routes/bad', { uri: '/bad/*', plugins: { 'ai-proxy-multi': conf } });
    assert.equal(r.status, 400, JSON.stringify(conf));
    assert.match(r.body.error_msg, message, JSON.stringify(conf));
  }
});
