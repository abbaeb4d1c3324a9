import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, startGateway } from '../../helpers/gateway.js';
import type { TestRedis } from '../../helpers/redis-server.js';
import { aiStoreSuite, type AiStoreGateway } from '../../helpers/ai-redis-gateway.js';
import { startEtcd } from '../../helpers/etcd-server.js';
import { adminClient } from '../admin/client.js';
import { get, type SimpleResponse } from '../../helpers/http.js';
import { logEntry, metricValue } from '../../helpers/observe.js';
import { withPluginRoutes } from '../../helpers/plugin-admin.js';

// ai-quota on a gateway with two workers, run whole against each store: a real redis-server
// (`redis`), and the node's own (no `redis`: the primary's quotas, a SQLite file in data_dir).
// The consumers are key-auth's, the model the fake provider behind ai-proxy or as the route's
// plain upstream. The fake model's answer to "say hello twice" costs 3 prompt + 5 completion
// tokens. Requests go out on fresh connections, so they land on either worker.

const CHAT = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'say hello twice' }] });
const STREAM = JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'say hello twice' }] });
const LOG = { path: 'quota.log', log_format: { uri: '$request_uri', consumer: '$ai_quota_consumer', tokens: '$ai_quota_tokens' } };

for (const store of ['redis', 'local'] as const) {
  describe(`ai-quota, ${store} store`, () => {
    let setting: AiStoreGateway;
    let redis: TestRedis | undefined;

    const skip = aiStoreSuite(store === 'redis', async (started) => {
      setting = started;
      ({ redis } = setting);
      const { put, llm } = setting;
      for (const name of ['admin', 'jack', 'jill']) await put(`/consumers/${name}`, { username: name, plugins: { 'key-auth': { key: `${name}-key` } } });
      const quota = { admin_consumer: 'admin', ...(redis === undefined ? {} : { redis: { service_name: '127.0.0.1', service_port: redis.port, timeout: 500 } }) };
      await setting.proxiedRoute('proxied', '/proxied/*', { 'key-auth': {}, 'ai-quota': quota, 'file-logger': LOG });
      await put('/routes/plain', {
        uri: '/v1/chat/completions*', upstream: { nodes: { [`127.0.0.1:${llm.port}`]: 1 } },
        plugins: { 'key-auth': {}, 'ai-quota': { ...quota, redis_key_prefix: 'plain:' }, 'file-logger': LOG },
      });
      await put('/routes/noauth', { uri: '/noauth/*', upstream: { nodes: { [`127.0.0.1:${llm.port}`]: 1 } }, plugins: { 'ai-quota': quota } });
      await eventually(async () => (await send('/noauth/v1/chat/completions', 'x')).status === 401);
    });

    function send(path: string, key: string, body = CHAT, headers: Record<string, string> = {}): Promise<SimpleResponse> {
      return get(setting.gw.url + path, { method: 'POST', headers: { apikey: key, 'content-type': 'application/json', connection: 'close', ...headers }, body });
    }

    const form = (path: string, key: string, body: string) =>
      send(path, key, body, { 'content-type': 'application/x-www-form-urlencoded' });

    async function setQuota(consumer: string, quota: number, route = '/proxied'): Promise<void> {
      const r = await form(`${route}/v1/chat/completions/quota/refresh`, 'admin-key', `consumer=${consumer}&quota=${quota}`);
      assert.equal(r.status, 200, r.body);
    }

    async function quotaOf(consumer: string, route = '/proxied'): Promise<number> {
      const r = await send(`${route}/v1/chat/completions/quota?consumer=${consumer}`, 'admin-key', '');
      assert.equal(r.status, 200, r.body);
      return (JSON.parse(r.body) as { quota: number }).quota;
    }

    test('a consumer without quota is refused; the admin sets, queries and changes quotas', { skip }, async () => {
      const denied = await send('/proxied/v1/chat/completions', 'jack-key');
      assert.equal(denied.status, 403);
      assert.equal(denied.headers['content-type'], 'text/plain');
      assert.equal(denied.body, 'Request denied by ai quota check, No quota left');

      const refreshed = await form('/proxied/v1/chat/completions/quota/refresh', 'admin-key', 'consumer=jack&quota=100');
      assert.equal(refreshed.status, 200, refreshed.body);
      assert.equal(refreshed.body, 'refresh quota successful');
      const queried = await send('/proxied/v1/chat/completions/quota?consumer=jack', 'admin-key', '');
      assert.equal(queried.status, 200);
      assert.equal(queried.headers['content-type'], 'application/json');
      assert.deepEqual(JSON.parse(queried.body), { consumer: 'jack', quota: 100 });
      assert.deepEqual(JSON.parse((await send('/proxied/v1/chat/completions/quota?consumer=nobody', 'admin-key', '')).body),
        { consumer: 'nobody', quota: 0 });

      assert.equal((await form('/proxied/v1/chat/completions/quota/delta', 'admin-key', 'consumer=jack&value=-30')).body, 'delta quota successful');
      assert.equal(await quotaOf('jack'), 70);
      assert.equal((await form('/proxied/v1/chat/completions/quota/delta', 'admin-key', 'consumer=jack&value=5')).status, 200);
      assert.equal(await quotaOf('jack'), 75);
      if (redis !== undefined) assert.equal((await redis.cli('GET', 'chat_quota:jack')).trim(), '75', 'Higress\'s key layout');

      const bad = await form('/proxied/v1/chat/completions/quota/delta', 'admin-key', 'consumer=jack&value=1.5');
      assert.equal(bad.status, 403);
      assert.equal(bad.body, 'Request denied by ai quota check. consumer can\'t be empty and value must be integer.');
      assert.equal((await form('/proxied/v1/chat/completions/quota/refresh', 'admin-key', 'quota=5')).status, 403);
      assert.equal((await send('/proxied/v1/chat/completions/quota', 'admin-key', '')).body,
        'Request denied by ai quota check. consumer can\'t be empty.');
    });

    test('only admin_consumer may use the admin paths; x-mse-consumer from a client is not believed', { skip }, async () => {
      const spoofed = await form('/proxied/v1/chat/completions/quota/refresh', 'jill-key', 'consumer=jill&quota=1000000');
      assert.equal(spoofed.status, 403);
      assert.equal(spoofed.body, 'Request denied by ai quota check. Unauthorized admin consumer.');
      const withHeader = await send('/proxied/v1/chat/completions/quota?consumer=jack', 'jill-key', '', { 'x-mse-consumer': 'admin' });
      assert.equal(withHeader.status, 403);
      const noConsumer = await send('/noauth/v1/chat/completions', 'x', CHAT, { 'x-mse-consumer': 'jack' });
      assert.equal(noConsumer.status, 401);
      assert.equal(noConsumer.body, 'Request denied by ai quota check. No Key Authentication information found.');
      assert.equal(await quotaOf('jill'), 0, 'nothing was set');
    });

    test('answers, JSON and streamed, through ai-proxy or a plain upstream, are charged their tokens; both workers agree', { skip }, async () => {
      await setQuota('jill', 20);
      await setQuota('jill', 9, '');
      const tokens = join(setting.gw.dir, 'data', 'logs', 'quota.log');
      const json = await send('/proxied/v1/chat/completions?n=json', 'jill-key');
      assert.equal(json.status, 200, json.body);
      await eventually(async () => await quotaOf('jill') === 12);
      const streamed = await send('/proxied/v1/chat/completions?n=stream', 'jill-key', STREAM);
      assert.equal(streamed.status, 200);
      assert.match(streamed.body, /data: \[DONE\]/);
      await eventually(async () => await quotaOf('jill') === 4);
      assert.equal((await send('/proxied/v1/chat/completions', 'jill-key')).status, 200, 'a positive quota lets one more answer through');
      await eventually(async () => await quotaOf('jill') === -4);
      for (let i = 0; i < 4; i++) assert.equal((await send('/proxied/v1/chat/completions', 'jill-key')).status, 403, 'every worker sees it spent');

      assert.equal((await send('/v1/chat/completions', 'jill-key')).status, 200);
      await eventually(async () => await quotaOf('jill', '') === 1);
      assert.equal((await send('/v1/chat/completions', 'jill-key', STREAM)).status, 200);
      assert.equal(await quotaOf('jill', ''), 1, 'a plain upstream\'s stream without usage charges nothing');

      const logged = await logEntry(tokens, 'uri', '/proxied/v1/chat/completions?n=stream');
      assert.equal(logged.consumer, 'jill');
      assert.equal(logged.tokens, 8);
      assert.ok(await metricValue(setting.gw, 'gatehouse_ai_quota_tokens_total{route="proxied"}') >= 24);
      assert.ok(await metricValue(setting.gw, 'gatehouse_ai_quota_rejected_total{route="proxied"}') >= 4);
    });

    test('other paths pass without a consumer check', { skip }, async () => {
      const r = await send('/proxied/v1/embeddings', 'jack-key', JSON.stringify({ model: 'e', input: 'x' }));
      assert.notEqual(r.status, 403);
    });

    test('quotas survive a restart of the gateway, neither lost nor reset', { skip }, async () => {
      await setQuota('jack', 50);
      assert.equal((await send('/proxied/v1/chat/completions', 'jack-key')).status, 200);
      await eventually(async () => await quotaOf('jack') === 42);
      await setting.restart();
      await eventually(async () => (await send('/noauth/v1/chat/completions', 'x')).status === 401);
      assert.equal(await quotaOf('jack'), 42);
      assert.equal(await quotaOf('jill'), -4, 'a spent quota stays spent');
      assert.equal((await send('/proxied/v1/chat/completions', 'jill-key')).status, 403);
      assert.equal((await send('/proxied/v1/chat/completions', 'jack-key')).status, 200);
      await eventually(async () => await quotaOf('jack') === 34);
      if (store === 'local') assert.ok(existsSync(join(setting.gw.dir, 'data', 'ai-quota.db')), 'kept in data_dir');
    });

    if (store === 'redis') {
      test('redis down: 503 redis error', { skip }, async () => {
        await redis!.stop();
        try {
          const r = await send('/proxied/v1/chat/completions', 'jack-key');
          assert.equal(r.status, 503);
          assert.match(r.body, /^redis error:/);
          const q = await send('/proxied/v1/chat/completions/quota?consumer=jack', 'admin-key', '');
          assert.equal(q.status, 503);
        } finally {
          await redis!.start();
        }
      });
    }
  });
}

test('bad configs are refused naming the field', async () => {
  await withPluginRoutes('ai-quota', async (putConf) => {
    const redisConf = { service_name: '127.0.0.1' };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ redis: redisConf }, /admin_consumer/],
      [{ admin_consumer: 'a', redis: {} }, /redis/],
      [{ admin_consumer: 'a', redis: { service_name: 'redis.static' } }, /redis\.service_name/],
      [{ admin_consumer: 'a', redis: redisConf, policy: 'local' }, /policy/],
      [{ admin_consumer: 'a', redis: redisConf, admin_path: 'quota' }, /admin_path/],
      [{ admin_consumer: 'a', redis: { ...redisConf, service_host: 'x' } }, /service_host/],
    ];
    for (const [conf, field] of cases) {
      const r = await putConf(conf);
      assert.equal(r.status, 400, JSON.stringify(conf));
      assert.match(r.body.error_msg, field);
    }
    assert.equal((await putConf({ admin_consumer: 'a', redis: redisConf })).status, 201);
    assert.equal((await putConf({ admin_consumer: 'a' })).status, 201, 'no redis: the node keeps the quotas');
  });
});

test('in cluster mode (store etcd) a quota without redis is refused: the node\'s own would not be the deployment\'s', async () => {
  const etcd = await startEtcd();
  try {
    const gw = await startGateway({ extra: { store: { type: 'etcd', etcd: { endpoints: [etcd.endpoint], prefix: '/gatehouse-quota', timeout: 2 } } } });
    try {
      const call = adminClient(gw);
      const route = (quota: Record<string, unknown>) => ({ uri: '/q', upstream: { nodes: { '127.0.0.1:1': 1 } }, plugins: { 'ai-quota': quota } });
      const refused = await call('PUT', '/routes/local', route({ admin_consumer: 'a' }));
      assert.equal(refused.status, 400);
      assert.match(refused.body.error_msg, /ai-quota needs redis when the gateway runs in cluster mode/);
      const accepted = await call('PUT', '/routes/shared', route({ admin_consumer: 'a', redis: { service_name: '127.0.0.1' } }));
      assert.equal(accepted.status, 201, accepted.text);
    } finally {
      await gw.stop();
    }
  } finally {
    await etcd.cleanup();
  }
});
