// A published plugin serving traffic: the runtime side (turning custom_plugins objects into
// plugins of every worker's registry) is the wasm host's; until it is wired this is a todo.
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
    gw = await startGateway({ store: 'sqlite', statusListener: false, adminKeys: [{ name: 'ops', key: ADMIN }] });
  });
  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  test('the header check module publishes (the runtime test below depends on it)', async () => {
    const r = await sendPublishForm(gw.adminUrl, ADMIN, 'PUT', '/custom_plugins/stamp',
      { stage: 'default', priority: '10', version: '1.0.0' }, { bytes: await headerStampPlugin() });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  });

  test('a route bound to a published plugin runs it', { todo: 'runtime wiring by the lead' }, async () => {
    const call = adminClient(gw);
    const route = await call('PUT', '/routes/stamped', { ...routeTo('/stamped', upstream.port), plugins: { stamp: {} } });
    assert.equal(route.status, 201, JSON.stringify(route.body));
    await eventually(async () => (await get(`${gw.url}/stamped`)).status === 200, 40, 50);
    assert.equal(upstream.seen.at(-1)?.headers['x-stamp'], 'yes');
  });
});
