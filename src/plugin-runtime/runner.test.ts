import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { Plugin } from '../contracts/plugin.js';
import type { Exchange } from '../data-plane/exchange.js';
import { EMPTY_CHAIN, handlersOf, type Chain, type Instance } from './chain.js';
import { PluginRun, ResponseState } from './plugin-run.js';
import type { PluginSnapshot, RoutePlugins } from './plugin-snapshot.js';
import { runRequestSide } from './runner.js';
import { runBodyFilter, runHeaderFilter, runLog, runLogAndFinish } from './response-phases.js';
import { pluginCost } from '../observability/plugin-cost.js';

const silent = pino({ level: 'silent' });

function instance(plugin: Partial<Plugin> & { name: string }, index: number): Instance {
  const full = { version: 1, stage: 'default', priority: 0, schema: {}, ...plugin } as Plugin;
  return {
    plugin: full, handlers: handlersOf(full),
    name: plugin.name, conf: {}, prepared: {}, stage: 'default', stageIndex: 3, priority: 0, filter: undefined, filterReadsBody: false,
    errorResponse: undefined, errorResponseIsJson: false, origin: 'route', originId: 'r1', index,
    cost: pluginCost(`test-${plugin.name}`),
  };
}

function chainOf(...plugins: (Partial<Plugin> & { name: string })[]): Chain {
  const all = plugins.map(instance);
  const having = (phase: keyof Plugin): Instance[] => all.filter((i) => typeof i.plugin[phase] === 'function');
  return {
    all, preflight: having('preflight'), rewrite: having('rewrite'), access: having('access'), before_proxy: having('before_proxy'),
    header_filter: having('header_filter').reverse(), body_filter: having('body_filter').reverse(), log: having('log').reverse(),
  };
}

function runOf(chain: Chain): PluginRun {
  const ex = {
    req: { method: 'GET', headers: {}, socket: { bytesRead: 0, bytesWritten: 0 } },
    vars: { facts: { path: '/', host: 'h', query: '' }, get: () => undefined, set: () => undefined },
    route: { id: 'r1' },
    startedAt: performance.now(),
  } as unknown as Exchange;
  return new PluginRun(ex, EMPTY_CHAIN, chain, silent);
}

const snapshot = {} as PluginSnapshot;
const route = { sources: [] } as unknown as RoutePlugins;

test('request side: synchronous while the handlers are, in phase order', () => {
  const order: string[] = [];
  const chain = chainOf(
    { name: 'a', rewrite: () => { order.push('a.rewrite'); }, access: () => { order.push('a.access'); } },
    { name: 'b', preflight: () => { order.push('b.preflight'); }, before_proxy: () => { order.push('b.before_proxy'); } },
  );
  const out = runRequestSide(runOf(chain), snapshot, route);
  assert.equal(out, undefined); // not a promise
  assert.deepEqual(order, ['b.preflight', 'a.rewrite', 'a.access', 'b.before_proxy']);
});

test('request side: an async handler turns the rest into a promise, order kept; a decision ends it', async () => {
  const order: string[] = [];
  const chain = chainOf(
    { name: 'a', rewrite: async () => { order.push('a.rewrite'); } },
    { name: 'b', rewrite: () => { order.push('b.rewrite'); }, access: () => ({ status: 403, body: 'no' }) },
    { name: 'c', access: () => { order.push('c.access'); } },
  );
  const out = runRequestSide(runOf(chain), snapshot, route);
  assert.ok(out instanceof Promise);
  const d = await out;
  assert.deepEqual(order, ['a.rewrite', 'b.rewrite']);
  assert.equal(d?.status, 403);
  assert.equal(d?.body?.toString(), 'no');
});

test('log: synchronous handlers run at once (no promise); an async one is awaited before the next; failures are only logged', async () => {
  const order: string[] = [];
  const sync = chainOf(
    { name: 'a', log: () => { order.push('a'); } },
    { name: 'b', log: () => { throw new Error('boom'); } },
  );
  assert.equal(runLog(runOf(sync)), undefined);
  assert.deepEqual(order, ['a']);

  order.length = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const mixed = chainOf(
    { name: 'a', log: () => { order.push('a'); } },
    { name: 'b', log: async () => { await gate; order.push('b'); throw new Error('late boom'); } },
    { name: 'c', log: () => { order.push('c'); } },
  );
  // log runs in reverse chain order: c, then b (async), then a
  const p = runLog(runOf(mixed));
  assert.ok(p instanceof Promise);
  assert.deepEqual(order, ['c']);
  release();
  await p;
  assert.deepEqual(order, ['c', 'b', 'a']);
});

test('header_filter: `status` reads the response\'s for filters from then on; response state is made on first use', () => {
  let seen: unknown;
  const chain = chainOf({ name: 'a', header_filter: (_p, ctx) => { seen = ctx.var('status'); } });
  const run = runOf(chain);
  assert.equal(run.var('status'), 200);
  run.response = ResponseState.fromFlat(404, ['server', 'x']);
  runHeaderFilter(run);
  assert.equal(seen, 404);
  assert.equal(run.statusKnown, true);
});

test('per-plugin cost: a request with costWeight 0 is not timed; a sampled one counts for costWeight calls', () => {
  const chain = chainOf({ name: 'sampled', rewrite: () => {}, header_filter: () => {}, log: () => {} });
  const count = (phase: string): number => {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    pluginCost('test-sampled').collect(values);
    return values.find((v) => v.metricName.endsWith('_count') && v.labels.phase === phase)?.value ?? 0;
  };
  const runWithWeight = (weight: number): void => {
    const run = runOf(chain);
    run.costWeight = weight;
    runRequestSide(run, snapshot, route);
    runHeaderFilter(run);
    runLog(run);
  };
  runWithWeight(0);
  assert.equal(count('rewrite'), 0);
  assert.equal(count('log'), 0);

  runWithWeight(8);
  assert.equal(count('rewrite'), 8);
  assert.equal(count('header_filter'), 8);
  assert.equal(count('log'), 8);
});

test('setResponseHeader: set ahead of the response, applied before header_filter (last call wins, undefined removes); later, straight on', () => {
  let seenByFilter: string | undefined;
  const chain = chainOf({ name: 'a', header_filter: (_p, ctx) => { seenByFilter = ctx.response.header('x-quota'); } });
  const run = runOf(chain);
  run.setResponseHeader('x-quota', '1');
  run.setResponseHeader('x-quota', '2');
  run.setResponseHeader('x-gone', 'soon');
  run.setResponseHeader('x-gone', undefined);
  run.setResponseHeader('X-Upstream', 'mine');
  run.response = ResponseState.fromFlat(200, ['x-upstream', 'theirs', 'server', 's']);
  runHeaderFilter(run);
  assert.equal(seenByFilter, '2');
  assert.deepEqual(run.response.allHeaders(), { 'x-upstream': 'mine', server: 's', 'x-quota': '2' });
  run.setResponseHeader('x-late', 'yes');
  assert.equal(run.response.header('x-late'), 'yes');
});

test('body_filter: a Buffer or a string replaces the chunk; anything else is that handler\'s error (logged), the chunk kept', () => {
  const chain = chainOf(
    { name: 'to-string', body_filter: (_p: unknown, _ctx: unknown, chunk: Buffer) => chunk.toString().toUpperCase() },
    { name: 'to-object', body_filter: () => ({ not: 'a chunk' }) as unknown as Buffer },
    { name: 'to-buffer', body_filter: (_p: unknown, _ctx: unknown, chunk: Buffer) => Buffer.concat([chunk, Buffer.from('!')]) },
  );
  // response side in reverse: to-buffer, to-object (refused), to-string
  assert.equal(runBodyFilter(runOf(chain), Buffer.from('hi'), true).toString(), 'HI!');
});

test('onFinished callbacks run once the log phase is done, after an async log handler too; one failing does not stop the rest', async () => {
  const order: string[] = [];
  const sync = runOf(chainOf({ name: 'a', log: () => { order.push('a.log'); } }));
  sync.onFinished(() => order.push('finished'));
  runLogAndFinish(sync);
  assert.deepEqual(order, ['a.log', 'finished']);

  order.length = 0;
  let release!: () => void;
  const async = runOf(chainOf({ name: 'b', log: () => new Promise<void>((r) => { release = r; }).then(() => { order.push('b.log'); }) }));
  async.onFinished(() => { throw new Error('first fails'); });
  async.onFinished(() => order.push('finished'));
  runLogAndFinish(async);
  assert.deepEqual(order, [], 'not before the log handler settles');
  release();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, ['b.log', 'finished']);
});

test('the plugin that answers is recorded (plugin_responded, gatehouse_plugin_responses_total); a passed request records nothing', async () => {
  const { metricsRegistry } = await import('../observability/metrics.js');
  const count = async (plugin: string, code: number): Promise<number> => {
    const m = (await metricsRegistry.getMetricsAsJSON()).find((x) => x.name === 'gatehouse_plugin_responses_total');
    return m?.values.find((v) => v.labels.plugin === plugin && v.labels.code === String(code))?.value ?? 0;
  };
  const passed = runOf(chainOf({ name: 'resp-pass', access: () => undefined }));
  runRequestSide(passed, snapshot, route);
  assert.equal(passed.respondedBy, undefined);
  assert.equal(await count('resp-pass', 200), 0);

  for (let i = 0; i < 2; i++) {
    const refused = runOf(chainOf({ name: 'resp-pass', access: () => undefined }, { name: 'resp-refuse', access: () => ({ status: 401 }) }));
    runRequestSide(refused, snapshot, route);
    assert.equal(refused.respondedBy, 'resp-refuse');
  }
  assert.equal(await count('resp-refuse', 401), 2);

  const broken = runOf(chainOf({ name: 'resp-broken', rewrite: async () => { throw new Error('boom'); } }));
  assert.equal((await runRequestSide(broken, snapshot, route))?.status, 500);
  assert.equal(broken.respondedBy, 'resp-broken');
  assert.equal(await count('resp-broken', 500), 1);
  const m = (await metricsRegistry.getMetricsAsJSON()).find((x) => x.name === 'gatehouse_plugin_responses_total');
  assert.deepEqual(m?.values.find((v) => v.labels.plugin === 'resp-broken')?.labels, { plugin: 'resp-broken', route: 'r1', code: '500' });
});
