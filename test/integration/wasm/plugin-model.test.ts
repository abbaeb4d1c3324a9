// Wasm plugins are plugins: ordered with built-ins by stage and priority, `_meta` (disable,
// filter), Higress `_rules_` chosen per request, the chain inspector, ticks with shared data,
// CAS, metrics on the Prometheus export, and plugins built with a real SDK (AssemblyScript).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { get } from '../../helpers/http.js';
import { eventually } from '../../helpers/gateway.js';
import { startWasmGateway, type WasmGateway } from '../../helpers/wasm-gateway.js';

let w: WasmGateway;

before(async () => {
  w = await startWasmGateway([
    { name: 'teapot-first', fixture: 'local-response', stage: 'authorization', priority: 10_000 },
    { name: 'teapot-last', fixture: 'local-response', stage: 'default', priority: 0 },
    { name: 'echo-config', fixture: 'echo-config' },
    { name: 'set-header', fixture: 'set-header' },
    { name: 'tick-shared', fixture: 'tick-shared' },
    { name: 'shared-cas', fixture: 'shared-cas' },
    { name: 'metrics', fixture: 'metrics' },
    { name: 'as-add-header', fixture: 'as:as-add-header', root_id: 'add_header' },
    { name: 'as-http-auth', fixture: 'as:as-http-auth', root_id: 'http_auth' },
  ], (u) => [
    // authorization stage, above key-auth: answers before authentication is asked for
    { id: 'before-auth', uri: '/before-auth', upstream_id: u, plugins: { 'teapot-first': {}, 'key-auth': {} } },
    // default stage: key-auth (authorization) runs first and refuses the anonymous request
    { id: 'after-auth', uri: '/after-auth', upstream_id: u, plugins: { 'teapot-last': {}, 'key-auth': {} } },
    { id: 'disabled', uri: '/disabled', upstream_id: u, plugins: { 'teapot-first': { _meta: { disable: true } } } },
    { id: 'filtered', uri: '/filtered', upstream_id: u, plugins: { 'teapot-first': { _meta: { filter: [['arg_tea', '==', 'yes']] } } } },
    {
      id: 'rules', name: 'rules-route', uri: '/rules', upstream_id: u, plugins: {
        'echo-config': { global: true, _rules_: [{ _match_domain_: ['*.example.com'], by: 'domain' }, { _match_route_: ['rules-route'], by: 'route' }] },
      },
    },
    { id: 'rules-only', uri: '/rules-only', upstream_id: u, plugins: { 'echo-config': { _rules_: [{ _match_route_: ['nope'], by: 'route' }] } } },
    { id: 'ticks', uri: '/ticks', upstream_id: u, plugins: { 'tick-shared': {} } },
    { id: 'cas', uri: '/cas', upstream_id: u, plugins: { 'shared-cas': {} } },
    { id: 'metrics', uri: '/metrics-route', upstream_id: u, plugins: { metrics: {} } },
    { id: 'as-add', uri: '/as-add', upstream_id: u, plugins: { 'as-add-header': { greeting: 'hi' } } },
    { id: 'as-auth', uri: '/as-auth', upstream_id: u, plugins: { 'as-http-auth': {} } },
  ]);
});

after(async () => { await w?.stop(); });

const sawHeader = (body: string, name: string): string | undefined => (JSON.parse(body) as { headers: Record<string, string> }).headers[name];

test('stage and priority place a wasm plugin among the built-ins, as the seeds order them', async () => {
  assert.equal((await get(`${w.gw.url}/before-auth`)).status, 418);
  assert.equal((await get(`${w.gw.url}/after-auth`)).status, 401);
});

test('_meta.disable and _meta.filter apply to wasm plugins', async () => {
  assert.equal((await get(`${w.gw.url}/disabled`)).status, 200);
  assert.equal((await get(`${w.gw.url}/filtered`)).status, 200);
  assert.equal((await get(`${w.gw.url}/filtered?tea=yes`)).status, 418);
});

test('the chain inspector lists wasm plugins with their stage and priority', async () => {
  const r = await get(`${w.gw.adminUrl}/routes/before-auth/plugin-chain`, { headers: { 'x-api-key': w.gw.adminKey } });
  assert.equal(r.status, 200);
  const chain = JSON.parse(r.body) as { plugins: { name: string; stage: string; priority: number }[] };
  const names = chain.plugins.map((p) => p.name);
  assert.deepEqual(names.slice(0, 2), ['teapot-first', 'key-auth']);
  const teapot = chain.plugins.find((p) => p.name === 'teapot-first')!;
  assert.equal(teapot.stage, 'authorization');
  assert.equal(teapot.priority, 10_000);
});

test('_rules_: the first matching rule is the configuration; no match falls back to the global keys or skips', async () => {
  const byDomain = await get(`${w.gw.url}/rules`, { headers: { host: 'api.example.com' } });
  assert.equal(sawHeader(byDomain.body, 'x-config'), '{"by":"domain"}');
  const byRoute = await get(`${w.gw.url}/rules`, { headers: { host: 'other.test' } });
  assert.equal(sawHeader(byRoute.body, 'x-config'), '{"by":"route"}');
  const none = await get(`${w.gw.url}/rules-only`);
  assert.equal(none.status, 200);
  assert.equal(sawHeader(none.body, 'x-config'), undefined, 'only rules, none matched: the plugin sits out');
});

test('ticks run on the root context and shared data is read by requests', async () => {
  await eventually(async () => Number(sawHeader((await get(`${w.gw.url}/ticks`)).body, 'x-ticks')) >= 3, 100, 50);
});

test('shared data compare-and-swap: a stale cas answers CAS_MISMATCH (8)', async () => {
  const r = await get(`${w.gw.url}/cas`);
  assert.equal(sawHeader(r.body, 'x-cas'), '0,8');
});

test('metrics a plugin defines are on the Prometheus export under its name', async () => {
  for (let i = 0; i < 3; i++) await get(`${w.gw.url}/metrics-route`);
  await eventually(async () => {
    const m = await get(w.gw.metricsUrl);
    const line = m.body.split('\n').find((l) => l.startsWith('wasmcustom_wasm_requests_total{plugin="metrics"}'));
    return line !== undefined && Number(line.split(' ')[1]) >= 3;
  });
  const m = await get(w.gw.metricsUrl);
  assert.match(m.body, /wasmcustom_wasm_last_path_len\{plugin="metrics"\} 14/);
});

test('an AssemblyScript SDK plugin (the SDK README sample) runs unmodified: its root id is add_header', async () => {
  const r = await get(`${w.gw.url}/as-add`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.hello, '{"greeting":"hi"}');
});

test('an AssemblyScript SDK plugin pauses, calls an upstream and resumes', async () => {
  const r = await get(`${w.gw.url}/as-auth`);
  assert.equal(r.status, 200);
  assert.ok(sawHeader(r.body, 'x-auth')!.includes('"url":"/auth"'));
});
