import { after, before } from 'node:test';
import { RedisCounterStore } from '../../src/counters/redis-store.js';
import type { RedisTarget } from '../../src/counters/redis-connections.js';
import { startRedis, startRedisCluster, type TestRedis, type TestRedisCluster } from '../helpers/redis-server.js';
import { counterStoreContract } from './counter-store.contract.js';

// The counter store contract against real Redis, single node and a three-master cluster.
// These stores count on the server's clock, so the fixture's `advance` waits for real.
// Handle b is another connection to the same server (its target differs by the timeout
// alone): two gateway nodes, as far as Redis can tell.

let redis: TestRedis;
let cluster: TestRedisCluster;

before(async () => {
  [redis, cluster] = await Promise.all([startRedis(), startRedisCluster()]);
});
after(async () => {
  await Promise.all([redis?.close(), cluster?.close()]);
});

const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function fixture(target: (timeoutMs: number) => RedisTarget, flush: () => Promise<unknown>) {
  return async () => {
    await flush();
    const a = new RedisCounterStore(target(1_000));
    const b = new RedisCounterStore(target(1_001));
    return { a, b, advance: wait, close: () => { a.close(); b.close(); } };
  };
}

counterStoreContract('redis', fixture(
  (timeoutMs) => ({ policy: 'redis', host: redis.host, port: redis.port, database: 0, tls: false, tlsVerify: false, timeoutMs }),
  () => redis.cli('flushall'),
));

counterStoreContract('redis-cluster', fixture(
  (timeoutMs) => ({
    policy: 'redis-cluster', nodes: cluster.nodes.map((n) => ({ host: n.host, port: n.port })), name: 'test',
    tls: false, tlsVerify: false, timeoutMs,
  }),
  () => Promise.all(cluster.nodes.map((n) => n.cli('flushall'))),
));
