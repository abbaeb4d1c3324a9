// Cluster mode end to end: three real gateway nodes on one real etcd. A write through any
// node is served by all; with etcd stopped they keep serving (readiness 200, stale),
// refuse writes with 503 and show gatehouse_etcd_reachable 0; with etcd back a write
// reaches all three; a node started while etcd is down serves its data_dir snapshot; a
// plugin published on one node runs on the others; the node directory lists them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startEtcd, type EtcdServer } from '../../helpers/etcd-server.js';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { get } from '../../helpers/http.js';
import { headerStampPlugin, sendPublishForm } from '../../helpers/custom-plugins.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';

const BIN = join(resolve(fileURLToPath(new URL('../../../../', import.meta.url))), 'bin', 'gatehouse.js');
const KEY = 'cluster-test-admin-key';

let etcd: EtcdServer;
let up: TestUpstream;
const nodes: Gateway[] = [];

function nodeOptions(dir?: string): Parameters<typeof startGateway>[0] {
  return {
    ...(dir !== undefined ? { dir } : {}),
    adminKeys: [{ name: 'ops', key: KEY }],
    extra: { store: { type: 'etcd', etcd: { endpoints: [etcd.endpoint], prefix: '/gatehouse-it', timeout: 2 } } },
  };
}

async function admin(gw: Gateway, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const r = await get(`${gw.adminUrl}${path}`, {
    method, headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: r.status, body: r.body === '' ? undefined : JSON.parse(r.body) };
}

const routeTo = (uri: string): Record<string, unknown> => ({ uri, upstream: { nodes: { [`127.0.0.1:${up.port}`]: 1 } } });

async function servedEverywhere(path: string, status = 200, gws: Gateway[] = nodes): Promise<void> {
  await eventually(async () => {
    for (const gw of gws) if ((await get(`${gw.url}${path}`)).status !== status) return false;
    return true;
  }, 100, 50);
}

async function readiness(gw: Gateway): Promise<{ status: number; body: any }> {
  const r = await get(`${gw.statusUrl}/status/ready`);
  return { status: r.status, body: JSON.parse(r.body) };
}

describe('three gateway nodes on one etcd', { timeout: 180_000 }, () => {
  before(async () => {
    etcd = await startEtcd();
    up = await startUpstream('cluster');
    // own folders, kept by stop(): a node is restarted on its data_dir below
    for (let i = 0; i < 3; i++) nodes.push(await startGateway(nodeOptions(await mkdtemp(join(tmpdir(), 'gatehouse-node-')))));
  });

  after(async () => {
    for (const gw of nodes) {
      await gw.stop().catch(() => undefined);
      await rm(gw.dir, { recursive: true, force: true });
    }
    await up?.close();
    await etcd?.cleanup();
  });

  it('a write through node A is served by B and C; every node lists all three, caught up', async () => {
    const [a] = nodes as [Gateway, Gateway, Gateway];
    const put = await admin(a, 'PUT', '/routes/r1', routeTo('/one'));
    assert.equal(put.status, 201);
    const written = put.body.modifiedIndex as number;
    assert.ok(written > 0);
    await servedEverywhere('/one');
    // reports reach the directory a moment after the workers applied the write
    let listed: any;
    await eventually(async () => {
      listed = (await admin(nodes[1]!, 'GET', '/cluster/nodes')).body;
      return listed.total === 3 && listed.list.every((n: { applied_revision: number; lag: number }) => n.applied_revision >= written && n.lag === 0);
    }, 100, 100).catch(() => assert.fail(`nodes did not all report revision ${written}: ${JSON.stringify(listed)}`));
    assert.equal(listed.list.filter((n: { self: boolean }) => n.self).length, 1);
    for (const n of listed.list) assert.equal(n.store, 'etcd');
    // the dashboard's metrics summary carries the same directory
    const summary = (await admin(nodes[2]!, 'GET', '/metrics/summary')).body;
    assert.deepEqual(summary.cluster.nodes.map((n: { id: string }) => n.id).sort(), listed.list.map((n: { id: string }) => n.id).sort());
    // the CLI shows the same through any node
    const { stdout } = await promisify(execFile)(process.execPath, [BIN, 'cluster', 'status', '--admin', nodes[1]!.adminUrl, '--key', KEY]);
    assert.match(stdout, /^3 node\(s\)/);
    assert.equal(stdout.trim().split('\n').length, 5, `header lines and three nodes:\n${stdout}`);
  });

  it('a plugin published on node A runs on B and C (its binary travels through etcd, checked by sha256)', async () => {
    const [a, b, c] = nodes as [Gateway, Gateway, Gateway];
    const published = await sendPublishForm(a.adminUrl, KEY, 'PUT', '/custom_plugins/stamp',
      { stage: 'default', priority: '10', version: '1.0.0' }, { bytes: await headerStampPlugin('abc') });
    assert.equal(published.status, 201, JSON.stringify(published.body));
    assert.equal((await admin(b, 'PUT', '/routes/stamped', { ...routeTo('/stamped'), plugins: { stamp: {} } })).status, 201);
    await servedEverywhere('/stamped');
    const before = up.seen.length;
    for (const gw of [a, b, c]) await get(`${gw.url}/stamped`);
    assert.deepEqual(up.seen.slice(before).map((s) => s.headers['x-stamp']), ['abc', 'abc', 'abc']);
  });

  it('etcd stopped: every node keeps serving and says so, writes get 503; etcd back: writes work within 2 s and reach all', async () => {
    await etcd.stop();
    const [a, b, c] = nodes as [Gateway, Gateway, Gateway];
    await eventually(async () => (await readiness(a)).body.store?.reachable === false, 100, 100);
    for (const gw of nodes) {
      assert.equal((await get(`${gw.url}/one`)).status, 200, 'the last configuration keeps serving');
      const ready = await readiness(gw);
      assert.equal(ready.status, 200, 'a node without etcd is still ready to serve');
      await eventually(async () => (await readiness(gw)).body.store?.reachable === false, 100, 100);
      assert.equal((await readiness(gw)).body.store.stale, true);
      const refused = await admin(gw, 'PUT', '/routes/while-down', routeTo('/while-down'));
      assert.equal(refused.status, 503);
      assert.match(refused.body.error_msg, /etcd/);
      const metrics = (await get(gw.metricsUrl)).body;
      assert.match(metrics, /^gatehouse_etcd_reachable 0$/m);
    }

    await etcd.restart();
    const back = Date.now();
    let written = 0;
    await eventually(async () => {
      written = (await admin(b, 'PUT', '/routes/after', routeTo('/after'))).status;
      return written === 201;
    }, 40, 50);
    assert.ok(Date.now() - back < 2000, `writes accepted again ${Date.now() - back} ms after etcd answered`);
    await servedEverywhere('/after');
    await servedEverywhere('/while-down', 404);
    for (const gw of [a, c]) {
      await eventually(async () => (await readiness(gw)).body.store?.reachable === true, 100, 100);
      assert.match((await get(gw.metricsUrl)).body, /^gatehouse_etcd_reachable 1$/m);
    }
  });

  it('a node started while etcd is down serves the snapshot it kept in data_dir, then catches up', async () => {
    const c = nodes[2]!;
    const dir = c.dir;
    await c.stop();
    await etcd.stop();
    const restarted = await startGateway({ ...nodeOptions(dir), startTimeoutMs: 30_000 });
    nodes[2] = restarted;
    assert.equal((await get(`${restarted.url}/after`)).status, 200, 'served from the local snapshot');
    const ready = await readiness(restarted);
    assert.equal(ready.status, 200);
    assert.equal(ready.body.store.reachable, false);
    assert.equal(ready.body.store.fromLocalSnapshot, true);
    assert.match(restarted.output(), /serving the last good snapshot kept in data_dir/);

    await etcd.restart();
    // node A notices etcd is back within its probe interval; until then writes are refused
    await eventually(async () => (await admin(nodes[0]!, 'PUT', '/routes/late', routeTo('/late'))).status === 201, 60, 50);
    await servedEverywhere('/late');
    await eventually(async () => (await readiness(restarted)).body.store.stale === false, 100, 100);
  });
});

describe('a node whose etcd cannot be reached and that has no snapshot', () => {
  it('does not start, and says which endpoint it tried', async () => {
    const gw = startGateway({
      extra: { store: { type: 'etcd', etcd: { endpoints: ['http://127.0.0.1:9'], prefix: '/nowhere', timeout: 1 } } },
      startTimeoutMs: 20_000,
    });
    await assert.rejects(gw, /127\.0\.0\.1:9/);
  });
});
