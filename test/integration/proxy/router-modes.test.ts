import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

// `router.http` in config.yaml picks APISIX's route matching mode for the whole node.

let up: TestUpstream;
let uriOnly: Gateway;
let withParams: Gateway;

before(async () => {
  up = await startUpstream('a');
  const nodes = { [`127.0.0.1:${up.port}`]: 1 };
  const routes = [
    { id: 'generic', uri: '/api/v1', upstream: { nodes }, plugins: { 'proxy-rewrite': { headers: { set: { 'X-Route': 'generic' } } } } },
    { id: 'hosted', uri: '/api/*', hosts: ['a.test'], upstream: { nodes }, plugins: { 'proxy-rewrite': { headers: { set: { 'X-Route': 'hosted' } } } } },
    {
      id: 'user', uri: '/user/:id', upstream: { nodes },
      plugins: { 'proxy-rewrite': { headers: { set: { 'X-Route': 'user', 'X-Id': '$uri_param_id' } } } },
    },
  ];
  uriOnly = await startGateway({ extra: { router: { http: 'radixtree_uri' } }, config: { routes } });
  withParams = await startGateway({ extra: { router: { http: 'radixtree_uri_with_parameter' } }, config: { routes } });
});

after(async () => {
  await uriOnly?.stop();
  await withParams?.stop();
  await up.close();
});

const seen = async (gw: Gateway, path: string, host: string): Promise<{ status: number; route?: string; id?: string }> => {
  const r = await get(gw.url + path, { headers: { host } });
  if (r.status !== 200) return { status: r.status };
  const h = r.json().headers as Record<string, string>;
  return { status: 200, route: h['x-route'], id: h['x-id'] };
};

test('radixtree_uri: the uri decides first (an exact path beats a host-bound prefix); hosts are then a condition', async () => {
  assert.deepEqual(await seen(uriOnly, '/api/v1', 'a.test'), { status: 200, route: 'generic', id: undefined });
  assert.deepEqual(await seen(uriOnly, '/api/v2', 'a.test'), { status: 200, route: 'hosted', id: undefined });
  assert.equal((await seen(uriOnly, '/api/v2', 'b.test')).status, 404);
});

test('radixtree_uri: /:name is literal', async () => {
  assert.equal((await seen(uriOnly, '/user/42', 'x')).status, 404);
  assert.equal((await seen(uriOnly, '/user/:id', 'x')).route, 'user');
});

test('radixtree_uri_with_parameter: /:name captures the segment into uri_param_<name>', async () => {
  assert.deepEqual(await seen(withParams, '/user/42', 'x'), { status: 200, route: 'user', id: '42' });
  assert.equal((await seen(withParams, '/user/42/x', 'x')).status, 404);
  assert.deepEqual(await seen(withParams, '/api/v1', 'a.test'), { status: 200, route: 'generic', id: undefined });
});
