// The setting of the AI plugins with a store (ai-quota, ai-history): the fake model provider
// and a two-worker gateway whose Admin API writes, with a real redis-server
// (startAiRedisGateway) or without one (startAiGateway: the node-local stores).
import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, startGateways, type Gateway } from './gateway.js';
import { startFakeLlm, type FakeLlm } from './fake-llm.js';
import { redisMissing, startRedis, type TestRedis } from './redis-server.js';
import { adminClient } from '../integration/admin/client.js';

export interface AiGateway {
  gw: Gateway;
  llm: FakeLlm;
  /** PUTs an Admin API object, asserting it was stored. */
  put(path: string, body: unknown): Promise<void>;
  /** A route `uri` to the fake provider through ai-proxy, with `plugins` beside it. */
  proxiedRoute(id: string, uri: string, plugins: Record<string, unknown>): Promise<void>;
  /** Stops the gateway and starts it again on the same folder (config store and data_dir); `gw` is the new one. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface AiRedisGateway extends AiGateway {
  redis: TestRedis;
}

export async function startAiGateway(): Promise<AiGateway> {
  const llm = await startFakeLlm();
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-ai-'));
  const start = () => startGateway({ store: 'sqlite', workers: 2, dir });
  const setting: AiGateway = {
    gw: await start(),
    llm,
    put: async (path, body) => {
      const r = await adminClient(setting.gw)('PUT', path, body);
      assert.ok(r.status === 200 || r.status === 201, r.text);
    },
    proxiedRoute: (id, uri, plugins) => setting.put(`/routes/${id}`, {
      uri,
      plugins: {
        ...plugins,
        'ai-proxy': { provider: 'openai-compatible', auth: { header: { Authorization: 'Bearer sk' } }, override: { endpoint: `${llm.url}/v1/chat/completions` } },
      },
    }),
    async restart() {
      await setting.gw.stop();
      setting.gw = await start();
    },
    async stop() {
      await setting.gw.stop();
      await llm.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return setting;
}

export async function startAiRedisGateway(): Promise<AiRedisGateway> {
  const redis = await startRedis();
  const setting = await startAiGateway();
  const stop = setting.stop;
  return Object.assign(setting, {
    redis,
    async stop() {
      await stop();
      await redis.close();
    },
  });
}

export type AiStoreGateway = AiGateway & { redis?: TestRedis };

/**
 * The setting of one store for the describe block it is called in: a gateway with a
 * redis-server (`redis` set) or without one (the node's stores), started in `before` (then
 * handed to `ready`) and stopped in `after`. Returns the block's `skip`: set when the
 * Redis setting cannot run here.
 */
export function aiStoreSuite(withRedis: boolean, ready: (setting: AiStoreGateway) => Promise<void>): string | undefined {
  const skip = withRedis ? redisMissing() : undefined;
  let setting: AiStoreGateway | undefined;
  before(async () => {
    if (skip !== undefined) return;
    setting = withRedis ? await startAiRedisGateway() : await startAiGateway();
    await ready(setting);
  });
  after(() => setting?.stop());
  return skip;
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
  const nodes = await startGateways(2, { config: { routes: [route] } });
  return {
    nodes, llm, redis,
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
      await Promise.all([redis.close(), llm.close()]);
    },
  };
}
