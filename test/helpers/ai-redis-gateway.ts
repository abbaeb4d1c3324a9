// The setting of the Redis-backed AI plugins' tests (ai-quota, ai-history): a real
// redis-server, the fake model provider and a two-worker gateway whose Admin API writes.
import assert from 'node:assert/strict';
import { startGateway, type Gateway } from './gateway.js';
import { startFakeLlm, type FakeLlm } from './fake-llm.js';
import { startRedis, type TestRedis } from './redis-server.js';
import { adminClient } from '../integration/admin/client.js';

export interface AiRedisGateway {
  gw: Gateway;
  llm: FakeLlm;
  redis: TestRedis;
  /** PUTs an Admin API object, asserting it was stored. */
  put(path: string, body: unknown): Promise<void>;
  /** A route `uri` to the fake provider through ai-proxy, with `plugins` beside it. */
  proxiedRoute(id: string, uri: string, plugins: Record<string, unknown>): Promise<void>;
  stop(): Promise<void>;
}

export async function startAiRedisGateway(): Promise<AiRedisGateway> {
  const redis = await startRedis();
  const llm = await startFakeLlm();
  const gw = await startGateway({ store: 'sqlite', workers: 2 });
  const call = adminClient(gw);
  const put = async (path: string, body: unknown): Promise<void> => {
    const r = await call('PUT', path, body);
    assert.ok(r.status === 200 || r.status === 201, r.text);
  };
  return {
    gw, llm, redis, put,
    proxiedRoute: (id, uri, plugins) => put(`/routes/${id}`, {
      uri,
      plugins: {
        ...plugins,
        'ai-proxy': { provider: 'openai-compatible', auth: { header: { Authorization: 'Bearer sk' } }, override: { endpoint: `${llm.url}/v1/chat/completions` } },
      },
    }),
    async stop() {
      await gw.stop();
      await llm.close();
      await redis.close();
    },
  };
}

export interface AiRedisNodes {
  /** Two gateway nodes, each its own process with the same file configuration. */
  nodes: Gateway[];
  llm: FakeLlm;
  redis: TestRedis;
  stop(): Promise<void>;
}

/**
 * Two gateway nodes sharing one real redis-server protected by `password`, with one route
 * `/<id>/*` to the fake provider through ai-proxy and `plugins(redisPort)` beside it: for the
 * AI limits whose counts every node shares in Redis.
 */
export async function startAiRedisNodes(password: string, id: string,
  plugins: (redisPort: number) => Record<string, unknown>): Promise<AiRedisNodes> {
  const [redis, llm] = await Promise.all([startRedis({ password }), startFakeLlm()]);
  const route = {
    id, uri: `/${id}/*`,
    plugins: {
      ...plugins(redis.port),
      'ai-proxy': { provider: 'openai-compatible', auth: { header: { Authorization: 'Bearer sk' } }, override: { endpoint: `${llm.url}/v1/chat/completions` } },
    },
  };
  const nodes = await Promise.all([0, 1].map(() => startGateway({ config: { routes: [route] } })));
  return {
    nodes, llm, redis,
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
      await Promise.all([redis.close(), llm.close()]);
    },
  };
}
