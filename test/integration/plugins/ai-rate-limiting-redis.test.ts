import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, type Gateway } from '../../helpers/gateway.js';
import { get } from '../../helpers/http.js';
import type { TestRedis } from '../../helpers/redis-server.js';
import { startAiRedisNodes, type AiRedisNodes } from '../../helpers/ai-redis-gateway.js';

// ai-rate-limiting with policy redis: two gateway nodes charge one budget in a real Redis
// (password protected); each fake answer uses 8 tokens.

const PASSWORD = 'airl-redis-s3cret';
let redis: TestRedis;
let nodes: Gateway[] = [];
let setting: AiRedisNodes | undefined;

before(async () => {
  setting = await startAiRedisNodes(PASSWORD, 'budget', (port) => ({
    'ai-rate-limiting': {
      limit: 20, time_window: 3600, rejected_code: 429,
      policy: 'redis', redis_host: '127.0.0.1', redis_port: port, redis_password: PASSWORD, redis_database: 1,
    },
  }));
  ({ redis, nodes } = setting);
});

after(async () => {
  await setting?.stop();
});

const chat = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'say hello twice' }] });
const on = (i: number) => get(`${nodes[i % 2]!.url}/budget/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chat });
const cli = (...args: string[]) => redis.cli('-a', PASSWORD, '--no-auth-warning', '-n', '1', ...args);
const HEADER = 'x-ai-ratelimit-remaining-ai-proxy-openai-compatible';

test('both nodes charge one budget in Redis; past it both refuse', async () => {
  const first = await on(0);
  assert.equal(first.status, 200);
  assert.equal(first.headers[HEADER], '20');
  let key = '';
  await eventually(async () => (key = (await cli('--scan', '--pattern', '*ai-rate-limiting#global*')).trim()) !== '');
  await eventually(async () => (await cli('get', key)).trim() === '8');
  const second = await on(1);
  assert.equal(second.status, 200);
  assert.equal(second.headers[HEADER], '12', 'the other node sees the first node\'s tokens');
  await eventually(async () => (await cli('get', key)).trim() === '16');
  assert.equal((await on(0)).status, 200, '4 left: this call overshoots');
  await eventually(async () => (await cli('get', key)).trim() === '24');
  for (const i of [0, 1]) {
    const r = await on(i);
    assert.equal(r.status, 429, `node ${i}`);
    assert.equal(r.headers[HEADER], '0');
  }
  assert.equal((await cli('get', key)).trim(), '24', 'refused calls add nothing');
  assert.doesNotMatch(key, new RegExp(PASSWORD), 'no secret in the key');
});
