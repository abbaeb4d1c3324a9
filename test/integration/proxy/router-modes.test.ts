import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

// `router.http` in config.yaml picks APISIX's route matching mode for the whole node
// (here radixtree_uri_with_parameter; the default mode is routing.test.ts's, and each
// mode's rules are unit-tested in router-modes.test.ts).

let up: TestUpstream;
let gw: Gateway;

before(async () => {
  up = await startUpstream('a');
  const nodes = { [`127.0.0.1:${up.port}`]: 1 };
  const tag = (route: string, extra: Record<string, string> = {}) => ({ 'proxy-rewrite': { headers: { set: { 'X-Route': route, ...extra } } } });
  gw = await startGateway({
    extra: { router: { http: 'radixtree_uri_with_parameter' } },
    config: {
      routes: [
        { id: 'generic', uri: '/api/v1', upstream: { nodes }, plugins: tag('generic') },
        { id: 'hosted', uri: '/api/*', hosts: ['a.test'], upstream: { nodes }, plugins: tag('hosted') },
        { id: 'user', uri: '/user/:id', upstream: { nodes }, plugins: tag('user', { 'X-Id': '$uri_param_id' }) },
      ],
    },
  });
});

after(async () => {
  await gw?.stop();
  await up.close();
});

const seen = async (path: string, host: string): Promise<{ status: number; route?: string; id?: string }> => {
  const r = await get(gw.url + path, { headers: { host } });
  if (r.status !== 200) return { status: r.status };
  const h = r.json().headers as Record<string, string>;
  return { status: 200, route: h['x-route'], id: h['x-id'] };
};

test('the uri decides first (an exact path beats a host-bound prefix); hosts are then a condition', async () => {
  assert.deepEqual(await seen('/api/v1', 'a.test'), { status: 200, route: 'generic', id: undefined });
  assert.deepEqual(await seen('/api/v2', 'a.test'), { status: 200, route: 'hosted', id: undefined });
  assert.equal((await seen('/api/v2', 'b.test')).status, 404);
});

test('/:name captures the segment into uri_param_<name>', async () => {
  assert.deepEqual(await seen('/user/42', 'x'), { status: 200, route: 'user', id: '42' });
  assert.equal((await seen('/user/42/x', 'x')).status, 404);
});
