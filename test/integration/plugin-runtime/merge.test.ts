import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWithUpstream, stopWithUpstream, type Gateway, FIXTURE_PLUGIN_DIR } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

let gw: Gateway;
let up: TestUpstream;

// Every object configures trace-authz-low with a tag naming the object, so the tag that
// reaches the upstream says which configuration won.
const tag = (t: string) => ({ 'trace-authz-low': { tag: t } });

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    services: [{ id: 's', upstream, plugins: tag('service') }],
    plugin_configs: [{ id: 'pc', plugins: tag('plugin_config') }],
    consumer_groups: [{ id: 'gold', plugins: tag('consumer_group') }],
    consumers: [
      { username: 'alice', group_id: 'gold', plugins: { 'fake-auth': { key: 'alice-key' }, ...tag('consumer') } },
      { username: 'bob', group_id: 'gold', plugins: { 'fake-auth': { key: 'bob-key' } } },
      { username: 'carol', plugins: { 'fake-auth': { key: 'carol-key' }, 'trace-default': { tag: 'carol-only' } } },
    ],
    global_rules: [{ id: 'g', plugins: { 'trace-authz-high': { tag: 'global' } } }],
    routes: [
      { id: 'svc-only', uri: '/svc-only', service_id: 's' },
      { id: 'pc-over-svc', uri: '/pc-over-svc', service_id: 's', plugin_config_id: 'pc' },
      { id: 'route-over-pc', uri: '/route-over-pc', service_id: 's', plugin_config_id: 'pc', plugins: tag('route') },
      { id: 'consumer', uri: '/consumer', service_id: 's', plugin_config_id: 'pc', plugins: { ...tag('route'), 'fake-auth': {} } },
      { id: 'twice', uri: '/twice', upstream, plugins: { 'trace-authz-high': { tag: 'route' } } },
    ],
  }), { extra: { plugin_dirs: [FIXTURE_PLUGIN_DIR] } }));
});

after(() => stopWithUpstream(gw, up));

const traceOf = async (path: string, headers?: Record<string, string>, phase: 'rewrite' | 'access' = 'rewrite'): Promise<string> => {
  const r = await get(gw.url + path, { headers });
  assert.equal(r.status, 200, r.body);
  return r.json().headers[phase === 'rewrite' ? 'x-trace' : 'x-trace-access'];
};

test('a service plugin applies to its routes', async () => {
  assert.equal(await traceOf('/svc-only'), 'global,service');
});

test('Plugin Config beats Service', async () => {
  assert.equal(await traceOf('/pc-over-svc'), 'global,plugin_config');
});

test('Route beats Plugin Config', async () => {
  assert.equal(await traceOf('/route-over-pc'), 'global,route');
});

test('Consumer beats Consumer Group beats Route, merged in after the auth plugin identified the consumer', async () => {
  assert.equal(await traceOf('/consumer', { 'x-user-key': 'alice-key' }, 'access'), 'global,consumer');
  assert.equal(await traceOf('/consumer', { 'x-user-key': 'bob-key' }, 'access'), 'global,consumer_group');
});

test("the route's rewrite has already run when the consumer is known (the seeds' caveat), so a consumer instance that replaces a route instance does not rewrite again", async () => {
  assert.equal(await traceOf('/consumer', { 'x-user-key': 'alice-key' }), 'global,route');
});

test('a consumer plugin absent from the route runs after authentication', async () => {
  assert.equal(await traceOf('/consumer', { 'x-user-key': 'carol-key' }), 'global,route,carol-only');
  assert.equal(await traceOf('/consumer', { 'x-user-key': 'carol-key' }, 'access'), 'global,route,carol-only');
});

test('an auth refusal stops the request before any consumer plugin', async () => {
  const r = await get(gw.url + '/consumer', { headers: { 'x-user-key': 'nobody' } });
  assert.equal(r.status, 401);
});

test('a plugin on a global rule and on the route runs twice, the global instance first', async () => {
  assert.equal(await traceOf('/twice'), 'global,route');
});

test('global rules run for unmatched requests too, which then get the 404', async () => {
  const r = await get(gw.url + '/no-such-route');
  assert.equal(r.status, 404);
  assert.deepEqual(r.json(), { error_msg: '404 Route Not Found' });
  assert.equal(r.headers['x-trace-resp'], 'global');
});
