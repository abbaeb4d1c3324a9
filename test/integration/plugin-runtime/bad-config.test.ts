import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, FIXTURE_PLUGIN_DIR } from '../../helpers/gateway.js';
import { startUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

test('a route whose plugins cannot run (unknown plugin, bad config, prepare failure, bad filter) is not served; the others are', async () => {
  const up = await startUpstream('a');
  cleanups.push(() => up.close());
  const upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
  const gw = await startGateway({
    extra: { plugin_dirs: [FIXTURE_PLUGIN_DIR] },
    config: {
      routes: [
        { id: 'unknown', uri: '/unknown', upstream, plugins: { 'no-such-plugin': {} } },
        { id: 'bad-field', uri: '/bad-field', upstream, plugins: { rejects: { status: 'loud' } } },
        { id: 'bad-prepare', uri: '/bad-prepare', upstream, plugins: { 'needs-regex': { pattern: '([' } } },
        { id: 'bad-filter', uri: '/bad-filter', upstream, plugins: { 'trace-authn': { _meta: { filter: [['arg_x', 'like', 'y']] } } } },
        { id: 'ok', uri: '/ok', upstream, plugins: { 'needs-regex': { pattern: '^/ok$' } } },
      ],
    },
  });
  cleanups.push(() => gw.stop());
  const ok = await get(gw.url + '/ok');
  assert.equal(ok.status, 200);
  assert.equal(ok.json().headers['x-regex-match'], 'true');
  for (const path of ['/unknown', '/bad-field', '/bad-prepare', '/bad-filter']) assert.equal((await get(gw.url + path)).status, 404, path);
  const out = gw.output();
  assert.match(out, /unknown plugin \[no-such-plugin\]/);
  assert.match(out, /plugin rejects err: property \\"status\\" validation failed/);
  assert.match(out, /needs-regex err: Invalid regular expression/);
  assert.match(out, /invalid operator 'like'/);
});
