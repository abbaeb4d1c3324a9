import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, type Gateway } from '../../helpers/gateway.js';
import { get } from '../../helpers/http.js';
import type { TestRedis } from '../../helpers/redis-server.js';
import { startAiRedisNodes, type AiRedisNodes } from '../../helpers/ai-redis-gateway.js';

// ai-token-ratelimit with `redis`: two gateway nodes count the tokens of their AI calls in
// one real Redis (password protected) under Higress's key names; each fake answer uses 8.

const PASSWORD = 'aitr-redis-s3cret';
let redis: TestRedis;
let nodes: Gateway[] = [];
let setting: AiRedisNodes | undefined;

before(async () => {
  setting = await startAiRedisNodes(PASSWORD, 'tokens', (port) => ({
    'ai-token-ratelimit': {
      rule_name: 'shared', redis: { service_name: '127.0.0.1', service_port: port, password: PASSWORD, database: 1 },
      rule_items: [{ limit_by_per_header: 'x-user', limit_keys: [{ key: '*', token_per_hour: 20 }] }],
    },
  }));
  ({ redis, nodes } = setting);
});

after(async () => {
  await setting?.stop();
});

const chat = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'say hello twice' }] });
const on = (i: number, user: string) => get(`${nodes[i % 2]!.url}/tokens/chat`, {
  method: 'POST', headers: { 'content-type': 'application/json', 'x-user': user }, body: chat,
});
const KEY = 'higress-token-ratelimit:shared:limit_by_per_header:3600:x-user:u1';
const cli = (...args: string[]) => redis.cli('-a', PASSWORD, '--no-auth-warning', '-n', '1', ...args);

test('both nodes add to one count in Redis under Higress\'s key; past the threshold both refuse', async () => {
  assert.equal((await on(0, 'u1')).status, 200);
  await eventually(async () => (await cli('get', KEY)).trim() === '8');
  assert.equal((await on(1, 'u1')).status, 200);
  await eventually(async () => (await cli('get', KEY)).trim() === '16');
  assert.equal((await on(0, 'u1')).status, 200, '16 is not past 20: this call overshoots');
  await eventually(async () => (await cli('get', KEY)).trim() === '24');
  const ttl = Number((await cli('ttl', KEY)).trim());
  assert.ok(ttl > 3500 && ttl <= 3600, `ttl ${ttl}`);
  for (const i of [0, 1]) {
    const r = await on(i, 'u1');
    assert.equal(r.status, 429, `node ${i}`);
    const reset = Number(r.headers['x-tokenratelimit-reset']);
    assert.ok(reset > 3500 && reset <= 3600, `reset ${reset}`);
  }
  assert.equal((await cli('get', KEY)).trim(), '24', 'refused calls add nothing');
  assert.equal((await on(1, 'u2')).status, 200, 'another value, another count');
});
