import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Gateway } from '../../helpers/gateway.js';
import { eventually } from '../../helpers/gateway.js';
import { startWithAdminRoute } from '../../helpers/admin-route.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { routeTo, type AdminCall } from '../admin/client.js';
import { logEntry, metricValue } from '../../helpers/observe.js';

let gw: Gateway;
let up: TestUpstream;
let canary: TestUpstream;
let call: AdminCall;

const canaryNodes = (): Record<string, number> => ({ [`127.0.0.1:${canary.port}`]: 1 });
const upstreamOf = async (path: string, headers: Record<string, string> = {}): Promise<string | undefined> =>
  (await get(gw.url + path, { headers })).headers['x-upstream'] as string | undefined;

async function putRoute(id: string, plugins: Record<string, unknown>): Promise<void> {
  const r = await call('PUT', `/routes/${id}`, { ...routeTo(`/${id}/*`, up.port), plugins });
  assert.ok(r.status === 200 || r.status === 201, r.text);
}

before(async () => {
  canary = await startUpstream('canary');
  ({ gw, up, call } = await startWithAdminRoute('ch', '/ch/*', {
    prometheus: {},
    'file-logger': { path: 'ch.log', log_format: { uri: '$request_uri', matched: '$canary_header_matched', upstream: '$upstream_addr' } },
    'canary-header': { header: 'X-Canary', value: 'on', upstream: { nodes: canaryNodes() } },
  }, { path: '/ch/probe', headers: { 'x-canary': 'on' } }));
});

after(async () => {
  await gw?.stop();
  await up?.close();
  await canary?.close();
});

test('a request whose header equals value goes to the inline canary upstream, the rest to the route\'s', async () => {
  assert.equal(await upstreamOf('/ch/a', { 'x-canary': 'on' }), 'canary');
  assert.equal(await upstreamOf('/ch/a', { 'x-canary': 'On' }), 'a', 'value is compared exactly');
  assert.equal(await upstreamOf('/ch/a', { 'x-canary': 'on2' }), 'a');
  assert.equal(await upstreamOf('/ch/a'), 'a');
});

test('regex (RE2) and a stored upstream by upstream_id', async () => {
  assert.equal((await call('PUT', '/upstreams/canary-up', { nodes: canaryNodes() })).status, 201);
  await putRoute('chr', { 'canary-header': { header: 'x-user', regex: '^(beta|qa)-[0-9]+$', upstream_id: 'canary-up' } });
  await eventually(async () => (await get(gw.url + '/chr/x')).status === 200);
  assert.equal(await upstreamOf('/chr/x', { 'x-user': 'beta-17' }), 'canary');
  assert.equal(await upstreamOf('/chr/x', { 'x-user': 'qa-2' }), 'canary');
  assert.equal(await upstreamOf('/chr/x', { 'x-user': 'prod-2' }), 'a');
  assert.equal(await upstreamOf('/chr/x', { 'x-user': 'beta-x' }), 'a');
  const del = await call('DELETE', '/upstreams/canary-up');
  assert.equal(del.status, 400, 'a stored upstream a canary-header names is not deleted');
  assert.equal(del.body.error_msg, 'can not delete this upstream, plugin in route [chr] is still using it now');
});

test('a stored upstream that does not exist answers as a route whose upstream is missing; the rest still reach the route\'s', async () => {
  await putRoute('chm', { 'canary-header': { header: 'x-canary', value: 'on', upstream_id: 'not-there' } });
  await eventually(async () => (await get(gw.url + '/chm/x')).status === 200);
  const r = await get(gw.url + '/chm/x', { headers: { 'x-canary': 'on' } });
  assert.equal(r.status, 502);
  assert.equal(r.json().error_msg, 'upstream not found');
});

test('the access log says whether the header matched ($canary_header_matched); matches are counted by route', async () => {
  const before = await metricValue(gw, 'gatehouse_canary_header_matched_total{route="ch"}');
  await upstreamOf('/ch/log-yes', { 'x-canary': 'on' });
  await upstreamOf('/ch/log-no');
  const log = join(gw.dir, 'data', 'logs', 'ch.log');
  const yes = await logEntry(log, 'uri', '/ch/log-yes');
  assert.equal(yes.matched, true);
  assert.equal(yes.upstream, `127.0.0.1:${canary.port}`);
  const no = await logEntry(log, 'uri', '/ch/log-no');
  assert.equal(no.matched, false);
  assert.equal(no.upstream, `127.0.0.1:${up.port}`);
  assert.equal(await metricValue(gw, 'gatehouse_canary_header_matched_total{route="ch"}'), before + 1);
});

test('bad config is refused with a 400 naming the field', async () => {
  const nodes = { 'nodes': { '127.0.0.1:1980': 1 } };
  for (const [conf, field] of [
    [{ value: 'x', upstream: nodes }, 'header'],
    [{ header: 'a b', value: 'x', upstream: nodes }, 'header'],
    [{ header: 'x', upstream: nodes }, 'value'],
    [{ header: 'x', value: 'a', regex: 'a', upstream: nodes }, 'regex'],
    [{ header: 'x', regex: '(', upstream: nodes }, 'regex'],
    [{ header: 'x', value: 'a' }, 'upstream'],
    [{ header: 'x', value: 'a', upstream: nodes, upstream_id: '1' }, 'upstream_id'],
    [{ header: 'x', value: 'a', upstream: { nodes: {}, type: 'fastest' } }, 'upstream'],
    [{ header: 'x', value: 'a', upstream_id: '1', weight: 3 }, 'weight'],
  ] as const) {
    const r = await call('PUT', '/routes/bad', { ...routeTo('/bad', up.port), plugins: { 'canary-header': conf } });
    assert.equal(r.status, 400, r.text);
    assert.match(r.body.error_msg, new RegExp(field), `${JSON.stringify(conf)}: ${r.body.error_msg}`);
  }
});
