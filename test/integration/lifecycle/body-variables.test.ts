import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWithUpstream, stopWithUpstream, type Gateway, FIXTURE_PLUGIN_DIR } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

// Variables that read the request body (post_arg_*, request_body, graphql_*) in route
// `vars` and in `_meta.filter`: the lifecycle reads the body (bounded) before the rule is
// evaluated, and the upstream still gets the body whole.

let gw: Gateway;
let up: TestUpstream;

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    routes: [
      { id: 'jack', uri: '/who', methods: ['POST'], vars: [['post_arg_name', '==', 'jack']], upstream },
      {
        id: 'filtered', uri: '/act', upstream,
        plugins: { rejects: { status: 403, _meta: { filter: [['post_arg_action', '==', 'delete']] } } },
      },
    ],
  }), { extra: { plugin_dirs: [FIXTURE_PLUGIN_DIR] }, node: { max_buffered_body_size: 2048 } }));
});

after(() => stopWithUpstream(gw, up));

const form = { 'content-type': 'application/x-www-form-urlencoded' };

test('a route whose vars read post_arg_name matches on the form body; the upstream gets the body', async () => {
  const jack = await get(gw.url + '/who', { method: 'POST', headers: form, body: 'name=jack&age=3' });
  assert.equal(jack.status, 200);
  assert.equal((jack.json() as { body: string }).body, 'name=jack&age=3');
  const rose = await get(gw.url + '/who', { method: 'POST', headers: form, body: 'name=rose' });
  assert.equal(rose.status, 404);
  const json = await get(gw.url + '/who', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"jack"}' });
  assert.equal(json.status, 200);
});

test('a _meta.filter on post_arg_action reads the body before deciding', async () => {
  const del = await get(gw.url + '/act', { method: 'POST', headers: form, body: 'action=delete' });
  assert.equal(del.status, 403);
  const read = await get(gw.url + '/act', { method: 'POST', headers: form, body: 'action=read' });
  assert.equal(read.status, 200);
  assert.equal((read.json() as { body: string }).body, 'action=read');
});

test('matching on the body is bounded by max_buffered_body_size (413)', async () => {
  const big = await get(gw.url + '/who', { method: 'POST', headers: form, body: `name=jack&pad=${'x'.repeat(3000)}` });
  assert.equal(big.status, 413);
});
