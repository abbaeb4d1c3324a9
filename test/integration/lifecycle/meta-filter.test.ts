import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWithUpstream, stopWithUpstream, type Gateway, FIXTURE_PLUGIN_DIR } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

// `_meta.filter` is evaluated lazily, at the phase the plugin runs in (APISIX), against
// the variables of that moment.

let gw: Gateway;
let up: TestUpstream;

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    routes: [
      {
        // APISIX's documented example: proxy-rewrite sets foo-age from the query, a later plugin filters on it.
        id: 'age', uri: '/age', upstream, plugins: {
          'proxy-rewrite': { headers: { set: { 'foo-age': '$arg_age' } } },
          'response-rewrite': { headers: { set: { 'x-filtered': 'yes' } }, _meta: { filter: [['http_foo_age', '==', '18']] } },
        },
      },
      {
        id: 'upstream-status', uris: ['/status/*'], upstream, plugins: {
          'response-rewrite': { headers: { set: { 'x-was-ok': 'yes' } }, _meta: { filter: [['upstream_status', '==', 200]] } },
        },
      },
      {
        // A request-phase plugin filtering on a response variable: nil then, so the filter is false and it does not run.
        id: 'request-phase', uri: '/early', upstream, plugins: {
          rejects: { status: 418, _meta: { filter: [['upstream_status', '==', 200]] } },
        },
      },
    ],
  }), { extra: { plugin_dirs: [FIXTURE_PLUGIN_DIR] } }));
});

after(() => stopWithUpstream(gw, up));

test('a filter sees a request header an earlier plugin set (proxy-rewrite foo-age: $arg_age)', async () => {
  const yes = await get(gw.url + '/age?age=18');
  assert.equal(yes.status, 200);
  assert.equal(yes.headers['x-filtered'], 'yes');
  assert.equal((yes.json() as { headers: Record<string, string> }).headers['foo-age'], '18');
  const no = await get(gw.url + '/age?age=20');
  assert.equal(no.headers['x-filtered'], undefined);
});

test('a response-phase plugin can filter on upstream_status', async () => {
  const ok = await get(gw.url + '/status/200');
  assert.equal(ok.headers['x-was-ok'], 'yes');
  const missing = await get(gw.url + '/status/404');
  assert.equal(missing.status, 404);
  assert.equal(missing.headers['x-was-ok'], undefined);
});

test('a filter on a response variable is false during a request phase', async () => {
  const r = await get(gw.url + '/early');
  assert.equal(r.status, 200);
});
