import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
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

test('a provider\'s 429 reaches the client as it is (no fallback is built)', async () => {
  await multiRoute('single', { instances: [instance('alpha', alpha)] });
  alpha.queue({ status: 429, body: { error: { message: 'Rate limit reached' } } });
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
    [{ instances: ok, fallback_strategy: 'http_429' }, /fallback_strategy: not built/],
    [{ instances: ok, fallback_strategy: ['rate_limiting'] }, /fallback_strategy: not built/],
    [{ instances: ok, max_retries: 1 }, /max_retries: not built/],
    [{ instances: ok, fallback_http_statuses: [500] }, /fallback_http_statuses: not built/],
    [{ instances: ok, retry_on_failure_within_ms: 100 }, /retry_on_failure_within_ms: not built/],
    [{ instances: ok, balancer: { algorithm: 'semantic' } }, /balancer\.algorithm: semantic/],
    [{ instances: ok, balancer: { algorithm: 'chash' } }, /balancer\.hash_on/],
    [{ instances: ok, balancer: { algorithm: 'chash', hash_on: 'header' } }, /balancer\.key/],
    [{ instances: [instance('alpha', alpha, { checks: { active: {} } })] }, /instances\[0\]\.checks: not built/],
    [{ instances: [instance('alpha', alpha, { provider: 'bedrock' })] }, /instances\[0\]\.provider/],
    [{ instances: [{ ...instance('alpha', alpha), override: undefined, provider: 'openai-compatible' }] }, /instances\[0\]/],
  ];
  for (const [conf, message] of cases) {
    const r = await call('PUT', '/routes/bad', { uri: '/bad/*', plugins: { 'ai-proxy-multi': conf } });
    assert.equal(r.status, 400, JSON.stringify(conf));
    assert.match(r.body.error_msg, message, JSON.stringify(conf));
  }
});
