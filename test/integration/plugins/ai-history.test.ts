import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { eventually } from '../../helpers/gateway.js';
import type { FakeLlm } from '../../helpers/fake-llm.js';
import type { Gateway } from '../../helpers/gateway.js';
import { redisMissing, type TestRedis } from '../../helpers/redis-server.js';
import { startAiRedisGateway, type AiRedisGateway } from '../../helpers/ai-redis-gateway.js';
import { get, type SimpleResponse } from '../../helpers/http.js';
import { logEntry, metricValue } from '../../helpers/observe.js';
import { withPluginRoutes } from '../../helpers/plugin-admin.js';

// ai-history on a gateway with two workers and a real redis-server, before ai-proxy and
// before a plain upstream (the fake provider either way).

const skip = redisMissing();
let gw: Gateway;
let llm: FakeLlm;
let redis: TestRedis;
let setting: AiRedisGateway;

const LOG = { path: 'history.log', log_format: { uri: '$request_uri', filled: '$ai_history_filled' } };

before(async () => {
  if (skip !== undefined) return;
  setting = await startAiRedisGateway();
  ({ gw, llm, redis } = setting);
  const { put } = setting;
  const history = { fillHistoryCnt: 2, cacheTTL: 600, redis: { serviceName: '127.0.0.1', servicePort: redis.port, timeout: 500 } };
  await setting.proxiedRoute('proxied', '/proxied/*', { 'ai-history': history, 'file-logger': LOG });
  await put('/routes/plain', {
    uri: '/v1/chat/completions', upstream: { nodes: { [`127.0.0.1:${llm.port}`]: 1 } },
    plugins: { 'ai-history': { ...history, identityHeader: 'x-user', cacheKeyPrefix: 'plain:' } },
  });
  await eventually(async () => (await chat('/proxied/v1/chat/completions', 'probe', 'hi')).status === 200);
});

after(() => setting?.stop());

function chat(path: string, identity: string, ...questions: string[]): Promise<SimpleResponse> {
  const messages = questions.map((content) => ({ role: 'user', content }));
  const header = path.startsWith('/proxied') ? 'authorization' : 'x-user';
  return get(gw.url + path, {
    method: 'POST', headers: { [header]: identity, 'content-type': 'application/json', connection: 'close' },
    body: JSON.stringify({ model: 'm', messages, ...(path.includes('stream') ? { stream: true } : {}) }),
  });
}

async function historyOf(identity: string, cnt?: number): Promise<unknown[]> {
  const r = await get(`${gw.url}/proxied/ai-history/query${cnt === undefined ? '' : `?cnt=${cnt}`}`, { headers: { authorization: identity } });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
  return JSON.parse(r.body) as unknown[];
}

test('turns are stored per identity and put in front of the next single question; identities never mix', { skip }, async () => {
  llm.answer = 'first answer';
  assert.equal((await chat('/proxied/v1/chat/completions', 'Bearer alice', 'q1')).status, 200);
  await eventually(async () => (await historyOf('Bearer alice')).length === 2);
  assert.deepEqual(await historyOf('Bearer  alice'), [{ role: 'user', content: 'q1' }, { role: 'assistant', content: 'first answer' }],
    'spaces in the identity do not count');
  assert.deepEqual(await historyOf('Bearer bob'), [], 'another identity sees nothing');

  llm.answer = 'second answer';
  assert.equal((await chat('/proxied/v1/chat/completions?stream=1', 'Bearer alice', 'q2')).status, 200);
  assert.deepEqual(llm.last().json.messages, [
    { role: 'user', content: 'q1' }, { role: 'assistant', content: 'first answer' }, { role: 'user', content: 'q2' },
  ]);
  await eventually(async () => (await historyOf('Bearer alice')).length === 4);
  assert.deepEqual((await historyOf('Bearer alice'))[3], { role: 'assistant', content: 'second answer' }, 'a streamed answer is joined');
  assert.deepEqual(await historyOf('Bearer alice', 1), [{ role: 'user', content: 'q2' }, { role: 'assistant', content: 'second answer' }]);

  llm.answer = 'third answer';
  assert.equal((await chat('/proxied/v1/chat/completions?n=3', 'Bearer alice', 'q3')).status, 200);
  await eventually(async () => JSON.stringify(await historyOf('Bearer alice')).includes('third answer'));
  assert.equal((await historyOf('Bearer alice')).length, 4, 'fillHistoryCnt turns are kept');

  assert.equal((await chat('/proxied/v1/chat/completions?n=multi', 'Bearer alice', 'a', 'b')).status, 200);
  assert.deepEqual(llm.last().json.messages.map((m: { content: string }) => m.content), ['a', 'b'], 'two user messages: left alone');
  assert.equal((await chat('/proxied/v1/chat/completions?n=anon', '', 'q')).status, 200);
  assert.equal(llm.last().json.messages.length, 1, 'no identity: no history');

  const keys = await redis.cli('KEYS', 'higress-ai-history:*');
  assert.ok(!keys.includes('alice'), 'identities are hashed in the keys');
  assert.ok(keys.includes(createHash('sha256').update('Beareralice').digest('hex')));
  assert.ok(Number(await redis.cli('TTL', `higress-ai-history:${createHash('sha256').update('Beareralice').digest('hex')}`)) > 0);

  const logged = await logEntry(join(gw.dir, 'data', 'logs', 'history.log'), 'uri', '/proxied/v1/chat/completions?stream=1');
  assert.equal(logged.filled, 1);
  assert.ok(await metricValue(gw, 'gatehouse_ai_history_saved_total{route="proxied"}') >= 3);
});

test('a plain upstream\'s answers are kept too', { skip }, async () => {
  llm.answer = 'plain answer';
  assert.equal((await chat('/v1/chat/completions', 'carol', 'p1')).status, 200);
  await eventually(async () => (await redis.cli('GET', `plain:${createHash('sha256').update('carol').digest('hex')}`)).includes('plain answer'));
  assert.equal((await chat('/v1/chat/completions', 'carol', 'p2')).status, 200);
  assert.equal(llm.last().json.messages.length, 3);
});

test('redis down: the request goes on without history; the query path answers 503', { skip }, async () => {
  await redis.stop();
  try {
    assert.equal((await chat('/proxied/v1/chat/completions', 'Bearer alice', 'q')).status, 200);
    assert.equal(llm.last().json.messages.length, 1);
    const r = await get(`${gw.url}/proxied/ai-history/query`, { headers: { authorization: 'Bearer alice' } });
    assert.equal(r.status, 503);
  } finally {
    await redis.start();
  }
});

test('bad configs are refused naming the field', { skip }, async () => {
  await withPluginRoutes('ai-history', async (putConf) => {
    const redisConf = { serviceName: '127.0.0.1' };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{}, /redis/],
      [{ redis: { serviceName: 'redis.static' } }, /redis\.serviceName/],
      [{ redis: redisConf, fillHistoryCnt: 0 }, /fillHistoryCnt/],
      [{ redis: redisConf, cacheTTL: -1 }, /cacheTTL/],
      [{ redis: redisConf, identityHeader: 'a b' }, /identityHeader/],
      [{ redis: { ...redisConf, service_name: 'x' } }, /service_name/],
    ];
    for (const [conf, field] of cases) {
      const r = await putConf(conf);
      assert.equal(r.status, 400, JSON.stringify(conf));
      assert.match(r.body.error_msg, field);
    }
    assert.equal((await putConf({ redis: redisConf })).status, 201);
  });
});
