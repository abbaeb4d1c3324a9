import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Plugin, Stage } from '../contracts/plugin.js';
import type { ResourceKind } from '../contracts/resources.js';
import type { StoredObject } from '../contracts/store.js';
import { ConfigState } from '../config-store/state.js';
import { PluginRegistry } from '../plugin-runtime/registry.js';
import { AdminError } from './errors.js';
import { inspectPluginChain, parseInspectRequest, type PluginChainReport } from './plugin-chain.js';

const noop = (): void => undefined;

function plugin(name: string, stage: Stage, priority: number, phases: (keyof Plugin)[], extra: Partial<Plugin> = {}): Plugin {
  const p: Record<string, unknown> = { name, version: 1, stage, priority, schema: { type: 'object', properties: {} }, ...extra };
  for (const ph of phases) p[ph] = noop;
  return p as unknown as Plugin;
}

async function registry(): Promise<PluginRegistry> {
  const reg = await PluginRegistry.load({ whitelist: [] });
  reg.add(plugin('p-high', 'authorization', 900, ['rewrite', 'access', 'header_filter']));
  reg.add(plugin('auth-a', 'authorization', 310, ['rewrite'], { type: 'auth' }));
  reg.add(plugin('p-low', 'authorization', 100, ['access', 'log']));
  reg.add(plugin('p-stats', 'statistics', 500, ['header_filter', 'log']));
  reg.add(plugin('p-pref', 'statistics', 400, ['log'], { runPolicy: 'prefer_route' }));
  reg.add(plugin('p-default', 'default', 10, ['rewrite']));
  return reg;
}

function view(objects: Partial<Record<ResourceKind, Record<string, unknown>[]>>): ConfigState {
  const list: StoredObject[] = [];
  for (const [kind, items] of Object.entries(objects)) {
    for (const v of items) {
      const id = String(v.id ?? v.username);
      list.push({ kind: kind as ResourceKind, id, value: v, createdIndex: 1, modifiedIndex: 1 });
    }
  }
  return ConfigState.fromStoreState({ revision: 1, objects: list });
}

const upstream = { nodes: { '127.0.0.1:1980': 1 } };
const config = () => view({
  global_rules: [{ id: 'g1', plugins: { 'p-high': {}, 'p-pref': {} } }],
  services: [{ id: 's1', upstream, plugins: { 'p-low': {}, 'p-stats': {} } }],
  plugin_configs: [{ id: 'pc1', plugins: { 'p-stats': { _meta: { priority: 600 } }, 'p-default': { _meta: { disable: true } } } }],
  consumer_groups: [{ id: 'gold', plugins: { 'p-low': {} } }],
  consumers: [{ username: 'alice', group_id: 'gold', plugins: { 'auth-a': {}, 'p-default': {} } }],
  routes: [
    { id: 'r1', uri: '/r1', service_id: 's1', plugin_config_id: 'pc1',
      plugins: { 'p-high': { _meta: { filter: [['arg_v', '==', '2']] } }, 'p-pref': {} } },
    { id: 'r2', uri: '/r2', upstream, plugins: { 'auth-a': {} } },
    { id: 'broken', uri: '/broken', upstream, plugins: { 'no-such-plugin': {} } },
    { id: 'catch-all', uri: '/*', upstream },
  ],
});

/** `name@origin[!disabled|?filter-result|~skip]` per phase step: compact enough to compare exactly. */
function steps(r: PluginChainReport): string[] {
  return r.phases.map((s) => `${s.phase}/${s.chain}${s.consumer_added ? '+consumer' : ''}: ${s.plugins.map((p) =>
    `${p.name}@${p.origin}${p.skipped !== undefined ? `~${p.skipped}` : ''}`).join(' ')}`);
}

test('the chain of a route with a service, a plugin config, a global rule, a disabled and a filtered plugin', async () => {
  const r = inspectPluginChain(config(), await registry(), 'r1');
  assert.equal(r.served, true);
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.plugins.map((p) => [p.chain, p.name, p.origin, p.origin_id, p.stage, p.priority, p.disabled]), [
    ['global', 'p-high', 'global_rule', 'g1', 'authorization', 900, false],
    ['global', 'p-pref', 'global_rule', 'g1', 'statistics', 400, false],
    ['route', 'p-high', 'route', 'r1', 'authorization', 900, false],
    ['route', 'p-low', 'service', 's1', 'authorization', 100, false],
    ['route', 'p-stats', 'plugin_config', 'pc1', 'statistics', 600, false],
    ['route', 'p-pref', 'route', 'r1', 'statistics', 400, false],
    ['route', 'p-default', 'plugin_config', 'pc1', 'default', 10, true],
  ]);
  const stats = r.plugins.find((p) => p.name === 'p-stats')!;
  assert.equal(stats.declared_priority, 500);
  assert.deepEqual(r.plugins.find((p) => p.chain === 'route' && p.name === 'p-high')!.filter, [['arg_v', '==', '2']]);
  assert.deepEqual(steps(r), [
    'rewrite/global: p-high@global_rule',
    'access/global: p-high@global_rule',
    'rewrite/route: p-high@route p-default@plugin_config~disabled',
    'access/route: p-high@route p-low@service',
    'header_filter/route: p-stats@plugin_config p-high@route',
    'header_filter/global: p-high@global_rule',
    'log/route: p-pref@route p-stats@plugin_config p-low@service',
    'log/global: p-pref@global_rule~prefer_route',
  ]);
  assert.equal(r.request, undefined);
});

test('?request= matches the route and evaluates each filter', async () => {
  const reg = await registry();
  const on = inspectPluginChain(config(), reg, 'r1', { path: '/r1', args: { v: '2' } });
  assert.deepEqual(on.request, {
    method: 'GET', host: '', uri: '/r1', matches: true, matched_route_id: 'r1',
    consumer: null, consumer_found: null, consumer_attached: false,
  });
  const routeHigh = (r: PluginChainReport) => r.phases.find((s) => s.phase === 'rewrite' && s.chain === 'route')!.plugins[0]!;
  assert.equal(routeHigh(on).filter_result, true);
  assert.equal(routeHigh(on).skipped, undefined);
  const off = inspectPluginChain(config(), reg, 'r1', { path: '/r1?v=3' });
  assert.equal(routeHigh(off).filter_result, false);
  assert.equal(routeHigh(off).skipped, 'filter');
  // a plugin without a filter passes; a disabled one is not evaluated
  assert.equal(off.phases[0]!.plugins[0]!.filter_result, true);
  assert.equal(off.phases.find((s) => s.phase === 'rewrite' && s.chain === 'route')!.plugins[1]!.filter_result, undefined);
});

test('?request= for another path says which route would match instead', async () => {
  const r = inspectPluginChain(config(), await registry(), 'r1', { path: '/elsewhere', method: 'post' });
  assert.equal(r.request!.matches, false);
  assert.equal(r.request!.matched_route_id, 'catch-all');
  assert.equal(r.request!.method, 'POST');
});

test('a consumer identified by the route auth plugin brings in its own and its group plugins', async () => {
  const r = inspectPluginChain(config(), await registry(), 'r2', { path: '/r2', consumer: 'alice' });
  assert.equal(r.request!.consumer_found, true);
  assert.equal(r.request!.consumer_attached, true);
  assert.deepEqual(steps(r), [
    'rewrite/global: p-high@global_rule',
    'access/global: p-high@global_rule',
    'rewrite/route: auth-a@route',
    'rewrite/route+consumer: p-default@consumer',
    'access/route: p-low@consumer_group',
    'header_filter/global: p-high@global_rule',
    'log/route: p-low@consumer_group',
    'log/global: p-pref@global_rule',
  ]);
  // the auth plugin of the consumer is its credential, not a plugin to run
  assert.ok(!r.plugins.some((p) => p.origin === 'consumer' && p.name === 'auth-a'));
  // without an auth plugin on the way no consumer is attached
  const none = inspectPluginChain(config(), await registry(), 'r1', { path: '/r1', consumer: 'alice' });
  assert.equal(none.request!.consumer_attached, false);
  assert.equal(inspectPluginChain(config(), await registry(), 'r2', { path: '/r2', consumer: 'zed' }).request!.consumer_found, false);
});

test('a route whose plugins cannot run is reported as not served; an unknown route is a 404', async () => {
  const reg = await registry();
  const r = inspectPluginChain(config(), reg, 'broken');
  assert.equal(r.served, false);
  assert.match(r.problems[0]!, /unknown plugin \[no-such-plugin\]/);
  assert.throws(() => inspectPluginChain(config(), reg, 'nope'), (e: unknown) => e instanceof AdminError && e.status === 404);
  // not served, so a request for it falls through to another route
  assert.equal(inspectPluginChain(config(), reg, 'broken', { path: '/broken' }).request!.matched_route_id, 'catch-all');
});

test('?request= is checked field by field', () => {
  assert.deepEqual(parseInspectRequest('{"path":"/a","headers":{"X-A":"1"}}'), { path: '/a', headers: { 'X-A': '1' } });
  for (const bad of ['nope', '[]', '{"path":"a"}', '{"headers":{"a":1}}', '{"args":{"a":[1]}}', '{"what":1}', '{"scheme":"ftp"}']) {
    assert.throws(() => parseInspectRequest(bad), (e: unknown) => e instanceof AdminError && e.status === 400, bad);
  }
});
