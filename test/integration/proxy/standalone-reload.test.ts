import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, eventually, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

let gw: Gateway;
let a: TestUpstream;
let b: TestUpstream;
const cfg = (up: TestUpstream, extraRoutes: Record<string, unknown>[] = []) => ({
  upstreams: [{ id: 'u', nodes: { [`127.0.0.1:${up.port}`]: 1 } }],
  routes: [{ id: 'r1', uri: '/hello', upstream_id: 'u' }, ...extraRoutes],
});

before(async () => {
  a = await startUpstream('a');
  b = await startUpstream('b');
  gw = await startGateway({ config: cfg(a), workers: 2 });
});

after(async () => {
  await gw.stop();
  await a.close();
  await b.close();
});

test('an edited standalone file is applied by every worker without a restart', async () => {
  await gw.writeConfig(cfg(b, [{ id: 'r2', uri: '/new', upstream_id: 'u' }]));
  await eventually(async () => (await get(gw.url + '/new')).status === 200);
  for (let i = 0; i < 10; i++) assert.equal((await get(gw.url + '/hello')).json().upstream, 'b');
});

test('a broken file is reported with the object and field, and the last good config keeps serving', async () => {
  const from = gw.output().length;
  await gw.writeConfig({ upstreams: [{ id: 'u', nodes: { [`127.0.0.1:${a.port}`]: 1 } }], routes: [{ id: 'r1', uri: 42, upstream_id: 'u' }] });
  await gw.waitForOutput(/routes\[0\].*r1.*uri/, from);
  for (let i = 0; i < 5; i++) assert.equal((await get(gw.url + '/hello')).json().upstream, 'b');
  assert.equal((await get(gw.url + '/new')).status, 200);
});

test('malformed YAML is reported and nothing already serving is lost', async () => {
  const from = gw.output().length;
  await gw.writeConfig('routes: [ { id: r1, uri: /hello\n  - broken: [');
  await gw.waitForOutput(/invalid YAML/, from);
  assert.equal((await get(gw.url + '/hello')).json().upstream, 'b');
});
