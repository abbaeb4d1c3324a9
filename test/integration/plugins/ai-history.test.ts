import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { eventually } from '../../helpers/gateway.js';
import type { TestRedis } from '../../helpers/redis-server.js';
import { aiStoreSuite, type AiStoreGateway } from '../../helpers/ai-redis-gateway.js';
import { get, type SimpleResponse } from '../../helpers/http.js';
import { logEntry, metricValue } from '../../helpers/observe.js';
import { withPluginRoutes } from '../../helpers/plugin-admin.js';

// ai-history on a gateway with two workers, before ai-proxy and before a plain upstream (the
// fake provider either way), run whole against each store: a real redis-server (`redis`), and
// the node's memory table shared by the workers (no `redis`). Requests go out on fresh
// connections, so follow-ups land on either worker.

const LOG = { path: 'history.log', log_format: { uri: '$request_uri', filled: '$ai_history_filled' } };
const hashed = (identity: string) => createHash('sha256').update(identity).digest('hex');

for (const store of ['redis', 'memory'] as const) {
  describe(`ai-history, ${store} store`, () => {
    let setting: AiStoreGateway;
    let redis: TestRedis | undefined;

    const skip = aiStoreSuite(store === 'redis', async (started) => {
      setting = started;
      ({ redis } = setting);
      const { put } = setting;
      const storeConf = redis === undefined ? {} : { redis: { serviceName: '127.0.0.1', servicePort: redis.port, timeout: 500 } };
      const history = { fillHistoryCnt: 2, cacheTTL: 600, ...storeConf };
      await setting.proxiedRoute('proxied', '/proxied/*', { 'ai-history': history, 'file-logger': LOG });
      await setting.proxiedRoute('brief', '/brief/*', { 'ai-history': { ...history, cacheTTL: 1, cacheKeyPrefix: 'brief:' } });
      await put('/routes/plain', {
        uri: '/v1/chat/completions', upstream: { nodes: { [`127.0.0.1:${setting.llm.port}`]: 1 } },
        plugins: { 'ai-history': { ...history, identityHeader: 'x-user', cacheKeyPrefix: 'plain:' } },
      });
      await eventually(async () => (await chat('/proxied/v1/chat/completions', 'probe', 'hi')).status === 200);
    });

    function chat(path: string, identity: string, ...questions: string[]): Promise<SimpleResponse> {
      const messages = questions.map((content) => ({ role: 'user', content }));
      const header = path.startsWith('/v1') ? 'x-user' : 'authorization';
      return get(setting.gw.url + path, {
        method: 'POST', headers: { [header]: identity, 'content-type': 'application/json', connection: 'close' },
        body: JSON.stringify({ model: 'm', messages, ...(path.includes('stream') ? { stream: true } : {}) }),
      });
    }

    async function historyOf(identity: string, cnt?: number, route = '/proxied'): Promise<unknown[]> {
      const r = await get(`${setting.gw.url}${route}/ai-history/query${cnt === undefined ? '' : `?cnt=${cnt}`}`,
        { headers: { authorization: identity, connection: 'close' } });
      assert.equal(r.status, 200, r.body);
      assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
      return JSON.parse(r.body) as unknown[];
    }

    test('turns are stored per identity and put in front of the next single question; identities never mix', { skip }, async () => {
      const { llm } = setting;
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

      llm.answer = 'bob\'s answer';
      assert.equal((await chat('/proxied/v1/chat/completions', 'Bearer bob', 'b1')).status, 200);
      assert.equal(llm.last().json.messages.length, 1, 'bob gets none of alice\'s history');
      await eventually(async () => (await historyOf('Bearer bob')).length === 2);
      assert.ok(!JSON.stringify(await historyOf('Bearer alice')).includes('bob'), 'nor alice bob\'s');

      llm.answer = 'third answer';
      assert.equal((await chat('/proxied/v1/chat/completions?n=3', 'Bearer alice', 'q3')).status, 200);
      await eventually(async () => JSON.stringify(await historyOf('Bearer alice')).includes('third answer'));
      assert.equal((await historyOf('Bearer alice')).length, 4, 'fillHistoryCnt turns are kept');

      assert.equal((await chat('/proxied/v1/chat/completions?n=multi', 'Bearer alice', 'a', 'b')).status, 200);
      assert.deepEqual(llm.last().json.messages.map((m: { content: string }) => m.content), ['a', 'b'], 'two user messages: left alone');
      assert.equal((await chat('/proxied/v1/chat/completions?n=anon', '', 'q')).status, 200);
      assert.equal(llm.last().json.messages.length, 1, 'no identity: no history');

      const logged = await logEntry(join(setting.gw.dir, 'data', 'logs', 'history.log'), 'uri', '/proxied/v1/chat/completions?stream=1');
      assert.equal(logged.filled, 1);
      assert.ok(await metricValue(setting.gw, 'gatehouse_ai_history_saved_total{route="proxied"}') >= 4);
    });

    test('a history is bounded in characters: the oldest turns go first', { skip }, async () => {
      const big = (c: string) => c.repeat(70_000);
      setting.llm.answer = big('a');
      assert.equal((await chat('/proxied/v1/chat/completions?n=big1', 'Bearer dave', big('1'))).status, 200);
      await eventually(async () => (await historyOf('Bearer dave')).length === 2);
      assert.equal((await chat('/proxied/v1/chat/completions?n=big2', 'Bearer dave', big('2'))).status, 200);
      await eventually(async () => JSON.stringify(await historyOf('Bearer dave')).includes('2222'));
      const kept = await historyOf('Bearer dave') as { content: string }[];
      assert.equal(kept.length, 2, 'two turns of 2 × 64 KiB do not fit 256 KiB: the older one was dropped');
      assert.ok(kept[0]!.content.startsWith('2'));
      setting.llm.answer = 'short';
    });

    test('a history expires after cacheTTL', { skip }, async () => {
      assert.equal((await chat('/brief/v1/chat/completions', 'Bearer erin', 'e1')).status, 200);
      await eventually(async () => (await historyOf('Bearer erin', undefined, '/brief')).length === 2);
      await eventually(async () => (await historyOf('Bearer erin', undefined, '/brief')).length === 0, 60, 100);
      assert.equal((await chat('/brief/v1/chat/completions', 'Bearer erin', 'e2')).status, 200);
      assert.equal(setting.llm.last().json.messages.length, 1, 'nothing put in front once expired');
    });

    test('a plain upstream\'s answers are kept too', { skip }, async () => {
      setting.llm.answer = 'plain answer';
      const saved = await metricValue(setting.gw, 'gatehouse_ai_history_saved_total{route="plain"}');
      assert.equal((await chat('/v1/chat/completions', 'carol', 'p1')).status, 200);
      await eventually(async () => await metricValue(setting.gw, 'gatehouse_ai_history_saved_total{route="plain"}') > saved);
      assert.equal((await chat('/v1/chat/completions', 'carol', 'p2')).status, 200);
      assert.deepEqual(setting.llm.last().json.messages.map((m: { content: string }) => m.content), ['p1', 'plain answer', 'p2']);
    });

    if (store === 'redis') {
      test('identities are hashed in the keys, which expire', { skip }, async () => {
        const keys = await redis!.cli('KEYS', 'higress-ai-history:*');
        assert.ok(!keys.includes('alice'));
        assert.ok(keys.includes(hashed('Beareralice')));
        assert.ok(Number(await redis!.cli('TTL', `higress-ai-history:${hashed('Beareralice')}`)) > 0);
        assert.match(await redis!.cli('GET', `plain:${hashed('carol')}`), /plain answer/);
      });

      test('redis down: the request goes on without history; the query path answers 503', { skip }, async () => {
        await redis!.stop();
        try {
          assert.equal((await chat('/proxied/v1/chat/completions', 'Bearer alice', 'q')).status, 200);
          assert.equal(setting.llm.last().json.messages.length, 1);
          const r = await get(`${setting.gw.url}/proxied/ai-history/query`, { headers: { authorization: 'Bearer alice' } });
          assert.equal(r.status, 503);
        } finally {
          await redis!.start();
        }
      });
    }
  });
}

test('bad configs are refused naming the field', async () => {
  await withPluginRoutes('ai-history', async (putConf) => {
    const redisConf = { serviceName: '127.0.0.1' };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ redis: {} }, /redis/],
      [{ redis: { serviceName: 'redis.static' } }, /redis\.serviceName/],
      [{ fillHistoryCnt: 0 }, /fillHistoryCnt/],
      [{ cacheTTL: -1 }, /cacheTTL/],
      [{ identityHeader: 'a b' }, /identityHeader/],
      [{ redis: { ...redisConf, service_name: 'x' } }, /service_name/],
      [{ store: 'memory' }, /store/],
    ];
    for (const [conf, field] of cases) {
      const r = await putConf(conf);
      assert.equal(r.status, 400, JSON.stringify(conf));
      assert.match(r.body.error_msg, field);
    }
    assert.equal((await putConf({ redis: redisConf })).status, 201);
    assert.equal((await putConf({})).status, 201, 'no redis: the node\'s memory');
  });
});
