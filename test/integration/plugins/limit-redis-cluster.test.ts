import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { type Gateway, startGateways } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { startRedisCluster, type TestRedisCluster } from '../../helpers/redis-server.js';

// limit-count and limit-req with policy `redis-cluster`: three gateway nodes counting in
// one Redis Cluster of three masters. The limit keys spread over the masters' slots; each
// key's count is still one, shared by the three nodes.

let cluster: TestRedisCluster;
let up: TestUpstream;
let nodes: Gateway[] = [];

before(async () => {
  [cluster, up] = await Promise.all([startRedisCluster(), startUpstream('a')]);
  const upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
  const redisConf = { policy: 'redis-cluster', redis_cluster_nodes: cluster.addresses, redis_cluster_name: 'test-cluster' };
  const config = {
    routes: [
      // keyed by a header: several limit keys, hence several hash slots (and masters)
      { id: 'count', uri: '/count', upstream, plugins: { 'limit-count': { count: 4, time_window: 60, key: 'http_x_user', ...redisConf } } },
      { id: 'req', uri: '/req', upstream, plugins: { 'limit-req': { rate: 0.1, burst: 0, key: 'remote_addr', ...redisConf } } },
    ],
  };
  nodes = await startGateways(3, { config });
});

after(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  await Promise.all([cluster?.close(), up?.close()]);
});

test('count 4 per user, shared by three nodes on a Redis Cluster: exactly 4 pass for each user', async () => {
  const users = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];
  const requests = users.flatMap((user) => Array.from({ length: 9 }, (_, i) =>
    get(`${nodes[i % 3]!.url}/count`, { headers: { 'x-user': user } }).then((r) => ({ user, status: r.status }))));
  const results = await Promise.all(requests);
  for (const user of users) {
    const statuses = results.filter((r) => r.user === user).map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 200).length, 4, `${user}: ${statuses.join(',')}`);
    assert.equal(statuses.filter((s) => s === 503).length, 5);
  }
  // the keys did spread over the masters
  const perMaster = await Promise.all(cluster.nodes.map(async (n) => Number((await n.cli('dbsize')).trim())));
  assert.ok(perMaster.filter((k) => k > 0).length >= 2, `keys per master: ${perMaster.join(',')}`);
});

test('limit-req on the cluster: one bucket for the three nodes', async () => {
  const statuses = (await Promise.all(Array.from({ length: 6 }, (_, i) => get(`${nodes[i % 3]!.url}/req`)))).map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 200).length, 1, statuses.join(','));
});
