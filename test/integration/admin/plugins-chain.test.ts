// GET /apisix/admin/routes/{id}/plugin-chain: the chain a route runs, phase by phase,
// with where each instance came from; `?request=` evaluates matching and filters, and
// the data plane does what the inspector says.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, eventually, type Gateway, FIXTURE_PLUGIN_DIR } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { adminClient, type AdminCall } from './client.js';


let gw: Gateway;
let up: TestUpstream;
let call: AdminCall;

before(async () => {
  up = await startUpstream('chain');
  gw = await startGateway({ store: 'sqlite', extra: { plugin_dirs: [FIXTURE_PLUGIN_DIR] } });
  call = adminClient(gw);
  const upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
  const writes: [string, Record<string, unknown>][] = [
    ['/global_rules/g1', { plugins: { 'trace-authz-high': { tag: 'global' } } }],
    ['/services/s1', { upstream, plugins: { 'trace-authz-low': { tag: 'service' }, 'trace-default': { tag: 'service' } } }],
    // plugin_config beats service: its disabled trace-default switches the service's off
    ['/plugin_configs/pc1', { plugins: { 'trace-authn': { _meta: { priority: 1000 } }, 'trace-default': { tag: 'pc', _meta: { disable: true } } } }],
    ['/routes/r1', { uri: '/r1', service_id: 's1', plugin_config_id: 'pc1',
      plugins: { 'trace-authz-high': { tag: 'route', _meta: { filter: [['arg_v', '==', '2']] } } } }],
  ];
  for (const [path, body] of writes) {
    const r = await call('PUT', path, body);
    assert.ok(r.status === 200 || r.status === 201, `${path}: ${r.text}`);
  }
});
after(async () => {
  await gw?.stop();
  await up?.close();
});

type Entry = { name: string; chain: string; origin: string; origin_id: string | null; stage: string; priority: number;
  declared_priority: number; disabled: boolean; filter: unknown; filter_result?: boolean; skipped?: string };
type Step = { phase: string; chain: string; plugins: Entry[] };

const brief = (steps: Step[]): string[] => steps.map((s) => `${s.phase}/${s.chain}: ${s.plugins.map((p) =>
  `${p.name}@${p.origin}:${p.origin_id}${p.skipped !== undefined ? `~${p.skipped}` : ''}`).join(' ')}`);

test('the chain of a route with a service, a plugin config, a global rule, a disabled plugin and a filtered one', async () => {
  const r = await call('GET', '/routes/r1/plugin-chain');
  assert.equal(r.status, 200, r.text);
  const body = r.body as { route_id: string; service_id: string; plugin_config_id: string; served: boolean; problems: string[];
    plugins: Entry[]; phases: Step[]; request?: unknown };
  assert.deepEqual([body.route_id, body.service_id, body.plugin_config_id, body.served, body.problems], ['r1', 's1', 'pc1', true, []]);
  assert.deepEqual(body.plugins.map((p) => [p.chain, p.name, p.origin, p.origin_id, p.stage, p.priority, p.disabled]), [
    ['global', 'trace-authz-high', 'global_rule', 'g1', 'authorization', 500, false],
    ['route', 'trace-authz-high', 'route', 'r1', 'authorization', 500, false],
    ['route', 'trace-authz-low', 'service', 's1', 'authorization', 100, false],
    ['route', 'trace-authn', 'plugin_config', 'pc1', 'authentication', 1000, false],
    ['route', 'trace-default', 'plugin_config', 'pc1', 'default', 9000, true],
  ]);
  const authn = body.plugins.find((p) => p.name === 'trace-authn')!;
  assert.equal(authn.declared_priority, 900, '_meta.priority is the effective priority; the declared one is kept');
  assert.deepEqual(body.plugins.find((p) => p.origin === 'route')!.filter, [['arg_v', '==', '2']]);
  const routeSide = 'trace-authz-high@route:r1 trace-authz-low@service:s1 trace-authn@plugin_config:pc1 trace-default@plugin_config:pc1~disabled';
  assert.deepEqual(brief(body.phases), [
    'rewrite/global: trace-authz-high@global_rule:g1',
    'access/global: trace-authz-high@global_rule:g1',
    `rewrite/route: ${routeSide}`,
    `access/route: ${routeSide}`,
    'header_filter/route: trace-default@plugin_config:pc1~disabled trace-authn@plugin_config:pc1 trace-authz-low@service:s1 trace-authz-high@route:r1',
    'header_filter/global: trace-authz-high@global_rule:g1',
  ]);
  assert.equal(body.request, undefined);
});

test('?request= flips the filter, and the data plane agrees with the inspector', async () => {
  const inspect = async (req: Record<string, unknown>) => {
    const r = await call('GET', `/routes/r1/plugin-chain?request=${encodeURIComponent(JSON.stringify(req))}`);
    assert.equal(r.status, 200, r.text);
    return r.body as { phases: Step[]; request: { matches: boolean; matched_route_id: string | null } };
  };
  const filtered = (b: { phases: Step[] }) => b.phases.find((s) => s.phase === 'rewrite' && s.chain === 'route')!.plugins[0]!;
  const on = await inspect({ method: 'GET', path: '/r1', args: { v: '2' } });
  assert.deepEqual(on.request, { method: 'GET', host: '', uri: '/r1', matches: true, matched_route_id: 'r1',
    consumer: null, consumer_found: null, consumer_attached: false });
  assert.equal(filtered(on).filter_result, true);
  assert.equal(filtered(on).skipped, undefined);
  const off = await inspect({ path: '/r1', args: { v: '1' } });
  assert.equal(filtered(off).filter_result, false);
  assert.equal(filtered(off).skipped, 'filter');

  // what the inspector predicts, the data plane does
  await eventually(async () => (await get(`${gw.url}/r1`)).status === 200);
  const trace = async (q: string) => (await get(`${gw.url}/r1${q}`)).json().headers['x-trace'];
  assert.equal(await trace('?v=2'), 'global,route,service,trace-authn');
  assert.equal(await trace('?v=1'), 'global,service,trace-authn');

  const elsewhere = await inspect({ path: '/nowhere' });
  assert.deepEqual([elsewhere.request.matches, elsewhere.request.matched_route_id], [false, null]);
});

test('a write shows in the chain at once; errors', async () => {
  const put = await call('PUT', '/plugin_configs/pc1', { plugins: { 'trace-authn': {}, 'trace-default': { _meta: { disable: true } } } });
  assert.equal(put.status, 200, put.text);
  const r = await call('GET', '/routes/r1/plugin-chain');
  const authn = (r.body.plugins as Entry[]).find((p) => p.name === 'trace-authn')!;
  assert.equal(authn.priority, 900);
  assert.deepEqual((await call('GET', '/routes/nope/plugin-chain')).body, { error_msg: 'Key not found' });
  assert.equal((await call('GET', '/routes/nope/plugin-chain')).status, 404);
  const bad = await call('GET', `/routes/r1/plugin-chain?request=${encodeURIComponent('{"path":3}')}`);
  assert.equal(bad.status, 400);
  assert.match(bad.body.error_msg, /"path" must be a string/);
  assert.equal((await call('PUT', '/routes/r1/plugin-chain', {})).status, 405);
  // the route itself is untouched by the sub-resource
  assert.equal((await call('GET', '/routes/r1')).body.value.uri, '/r1');
});
