import assert from 'node:assert/strict';
import { eventually, startGateway, type Gateway } from './gateway.js';
import { startUpstream, type TestUpstream } from '../fixtures/upstream.js';
import { get } from './http.js';
import { adminClient, routeTo, type AdminCall } from '../integration/admin/client.js';

export interface AdminRouteGateway {
  gw: Gateway;
  up: TestUpstream;
  call: AdminCall;
}

/**
 * A one-worker gateway on an sqlite store (so bad configs can be PUT and refused), every
 * request timed for the plugin cost metric, with route `id` on `uri` added through the
 * Admin API; resolves once `probe` (a path and headers) gets a 200 through it.
 */
export async function startWithAdminRoute(id: string, uri: string, plugins: Record<string, unknown>,
  probe: { path: string; headers?: Record<string, string> }): Promise<AdminRouteGateway> {
  const up = await startUpstream('a');
  const gw = await startGateway({ store: 'sqlite', workers: 1, prometheus: { plugin_cost_sample: 1 } });
  const call = adminClient(gw);
  const put = await call('PUT', `/routes/${id}`, { ...routeTo(uri, up.port), plugins });
  assert.equal(put.status, 201, put.text);
  await eventually(async () => (await get(gw.url + probe.path, { headers: probe.headers })).status === 200);
  return { gw, up, call };
}
