import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metricsSummaryRoute, type MetricsSummary } from './metrics-summary.js';
import type { AdminRequest, AdminRouteHandler } from './server.js';
import type { StatusSource } from './status-server.js';
import { AdminError } from './errors.js';

const status: StatusSource = {
  expectedWorkers: () => 1,
  workers: () => [{ index: 0, pid: 42, revision: 7, listening: true }],
  revision: () => 7,
};

const get = (segments = ['summary'], method = 'GET'): AdminRequest =>
  ({ method, segments, query: new URLSearchParams(), body: undefined, key: { name: 'v', key: 'k', role: 'viewer' } });

async function summary(route: AdminRouteHandler): Promise<MetricsSummary> {
  return (await route(get())).body as MetricsSummary;
}

test('one collection per second: calls within it are answered from the cache, concurrent ones share it', async () => {
  let clock = 1_000_000;
  let scrapes = 0;
  let release!: () => void;
  let gate = new Promise<void>((r) => { release = r; });
  const route = metricsSummaryRoute({ status, now: () => clock, scrape: async () => { scrapes++; await gate; return ''; } });
  const both = Promise.all([summary(route), summary(route)]);
  release();
  const [a, b] = await both;
  assert.equal(scrapes, 1);
  assert.equal(a, b);
  clock += 999;
  assert.equal((await summary(route)).time, 1_000_000);
  assert.equal(scrapes, 1);
  clock += 1;
  gate = Promise.resolve();
  assert.equal((await summary(route)).time, 1_001_000);
  assert.equal(scrapes, 2);
});

test('node health and a cumulative-counters note; cluster null unless the store is shared', async () => {
  const s = await summary(metricsSummaryRoute({ status, scrape: async () => '' }));
  assert.equal(s.counters, 'cumulative');
  assert.deepEqual(s.node, { ready: true, revision: 7, workers: [{ index: 0, pid: 42, revision: 7, listening: true }], problems: [] });
  assert.equal(s.cluster, null);
});

test('a node directory that cannot be read is reported in `cluster`, the rest still answers', async () => {
  const s = await summary(metricsSummaryRoute({ status, scrape: async () => '', clusterNodes: async () => { throw new Error('etcd down'); } }));
  assert.deepEqual(s.cluster, { error: "the cluster's node directory cannot be read: etcd down" });
});

test('workers that do not answer: 503 naming why, and the next call tries again', async () => {
  let fail = true;
  const route = metricsSummaryRoute({ status, scrape: async () => { if (fail) throw new Error('Operation timed out.'); return ''; } });
  await assert.rejects(async () => route(get()), (e: AdminError) => e.status === 503 && /metrics cannot be collected: Operation timed out/.test(e.message));
  fail = false;
  assert.equal((await route(get())).status, 200);
});

test('other paths 404, writes 405', async () => {
  const route = metricsSummaryRoute({ status, scrape: async () => '' });
  await assert.rejects(async () => route(get([])), (e: AdminError) => e.status === 404);
  await assert.rejects(async () => route(get(['summary', 'x'])), (e: AdminError) => e.status === 404);
  await assert.rejects(async () => route(get(['summary'], 'PUT')), (e: AdminError) => e.status === 405);
});
