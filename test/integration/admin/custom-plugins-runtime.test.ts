// Published plugins serving traffic on every worker: publish → served without a restart,
// disable and enable, a version rollback under load without a failed request, and
// binding refusals once disabled.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, eventually, type Gateway } from '../../helpers/gateway.js';
import { get } from '../../helpers/http.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { headerStampPlugin, sendPublishForm } from '../../helpers/custom-plugins.js';
import { adminClient, routeTo } from './client.js';

const ADMIN = 'market-runtime-key-0001';

describe('custom plugins: serving traffic', () => {
  let gw: Gateway;
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({ store: 'sqlite', statusListener: false, workers: 2, adminKeys: [{ name: 'ops', key: ADMIN }] });
  });
  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  const stampOf = async (path: string): Promise<string | undefined> => {
    const r = await get(`${gw.url}${path}`);
    if (r.status !== 200) return `status ${r.status}`;
    return (JSON.parse(r.body) as { headers: Record<string, string> }).headers['x-stamp'];
  };

  test('published, bound, served by every worker; the publish answers before the next write can bind it', async () => {
    const published = await sendPublishForm(gw.adminUrl, ADMIN, 'PUT', '/custom_plugins/stamp',
      { stage: 'default', priority: '10', version: '1.0.0' }, { bytes: await headerStampPlugin('v01') });
    assert.equal(published.status, 201, JSON.stringify(published.body));
    const call = adminClient(gw);
    const route = await call('PUT', '/routes/stamped', { ...routeTo('/stamped', upstream.port), plugins: { stamp: {} } });
    assert.equal(route.status, 201, JSON.stringify(route.body));
    // two workers, requests spread over new connections: every one runs the plugin
    await eventually(async () => (await stampOf('/stamped')) === 'v01', 200, 50);
    for (let i = 0; i < 10; i++) assert.equal(await stampOf('/stamped'), 'v01');
  });

  test('disabled: the plugin stops running and new bindings are refused; enabled again: it runs', async () => {
    const call = adminClient(gw);
    assert.equal((await call('PATCH', '/custom_plugins/stamp', { enabled: false })).status, 200);
    await eventually(async () => (await stampOf('/stamped')) === undefined, 200, 50).catch(async (e) => {
      throw new Error(`${(e as Error).message}: last answer ${await stampOf('/stamped')}\n${gw.output().slice(-3000)}`);
    });
    const bind = await call('PUT', '/routes/other', { ...routeTo('/other', upstream.port), plugins: { stamp: {} } });
    assert.equal(bind.status, 400);
    assert.match(JSON.stringify(bind.body), /disabled/);
    assert.equal((await call('PATCH', '/custom_plugins/stamp', { enabled: true })).status, 200);
    await eventually(async () => (await stampOf('/stamped')) === 'v01', 200, 50);
  });

  test('a new version, then a rollback under load: no request fails and each sees one version or the other', async () => {
    const call = adminClient(gw);
    assert.equal((await call('PATCH', '/custom_plugins/stamp', { enabled: false })).status, 200);
    const v2 = await sendPublishForm(gw.adminUrl, ADMIN, 'PUT', '/custom_plugins/stamp',
      { stage: 'default', priority: '10', version: '2.0.0', enabled: 'true' }, { bytes: await headerStampPlugin('v02') });
    assert.ok(v2.status === 200 || v2.status === 201, JSON.stringify(v2.body));
    // both workers serve v2 (one answering v02 says nothing of the other) before the load starts
    await eventually(async () => (await get(`${gw.statusUrl}/status/ready`)).status === 200 && (await stampOf('/stamped')) === 'v02', 200, 50);
    const seen = new Map<string, number>();
    let stop = false;
    const load = (async () => {
      // bounded: at most 2,000 requests, 4 at a time, until the rollback is served
      for (let i = 0; i < 500 && !stop; i++) {
        const batch = await Promise.all([0, 1, 2, 3].map(() => stampOf('/stamped')));
        for (const s of batch) seen.set(String(s), (seen.get(String(s)) ?? 0) + 1);
      }
    })();
    const rollback = await call('PATCH', '/custom_plugins/stamp', { version: '1.0.0' });
    assert.equal(rollback.status, 200, JSON.stringify(rollback.body));
    await eventually(async () => (await stampOf('/stamped')) === 'v01', 200, 50);
    stop = true;
    await load;
    const other = [...seen.keys()].filter((k) => k !== 'v01' && k !== 'v02');
    assert.deepEqual(other, [], `every request ran v1 or v2: ${JSON.stringify([...seen])}`);
  });
});
