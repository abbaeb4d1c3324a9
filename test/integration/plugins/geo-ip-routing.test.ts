import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { adminClient, routeTo, type AdminCall } from '../admin/client.js';
import { badLookupFields, writeGeoDbs, type GeoDbFiles } from '../../fixtures/geo-dbs.js';

// Routing by place: route `vars` on $geo_* resolved when routes are matched, from
// geo-ip's plugin metadata (the databases the test builds, test/fixtures/geo-dbs.ts).

let gw: Gateway;
let call: AdminCall;
let dir: string;
let dbs: GeoDbFiles;
const upstreams: Record<string, TestUpstream> = {};

/** Which upstream answered `path` for a client the headers place. */
const served = async (path: string, headers: Record<string, string> = {}): Promise<string | undefined> => {
  const r = await get(gw.url + path, { headers });
  assert.equal(r.status, 200, r.body);
  return r.headers['x-upstream'] as string | undefined;
};
const xff = (ip: string) => ({ 'x-forwarded-for': ip });

async function put(path: string, body: unknown): Promise<void> {
  const r = await call('PUT', path, body);
  assert.ok(r.status === 200 || r.status === 201, `${path}: ${r.text}`);
}

const byCountry = (uri: string, country: string, upstream: string, extra: Record<string, unknown> = {}) =>
  ({ ...routeTo(uri, upstreams[upstream]!.port), vars: [['geo_country', '==', country]], priority: 1, ...extra });

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-geo-routing-'));
  dbs = await writeGeoDbs(dir);
  for (const name of ['china', 'sweden', 'default']) upstreams[name] = await startUpstream(name);
  gw = await startGateway({ store: 'sqlite', workers: 1 });
  call = adminClient(gw);
});

after(async () => {
  await gw?.stop();
  for (const up of Object.values(upstreams)) await up.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

test('without geo-ip metadata a route cannot match on a geo variable: 400 naming it', async () => {
  const r = await call('PUT', '/routes/early', byCountry('/early', 'China', 'china'));
  assert.equal(r.status, 400, r.text);
  assert.match(r.body.error_msg, /'vars'.*geo_country.*plugin_metadata\/geo-ip.*does not exist/);
  // other plugin-set variables stay refused: no plugin resolves them when routes are matched
  const other = await call('PUT', '/routes/early', { ...routeTo('/early', upstreams.china!.port), vars: [['geo_ip_result', '==', 'found']] });
  assert.equal(other.status, 400, other.text);
  assert.match(other.body.error_msg, /geo_ip_result.*set by a plugin/);
});

test('bad metadata is refused with a 400 naming the field, as the plugin\'s config', async () => {
  for (const [md, pattern] of await badLookupFields(dir, dbs)) {
    const r = await call('PUT', '/plugin_metadata/geo-ip', md);
    assert.equal(r.status, 400, `${JSON.stringify(md)}: ${r.text}`);
    assert.match(r.body.error_msg, pattern);
  }
});

test('routes on one uri picked by country, IPv4 and IPv6, from the header the metadata names', async () => {
  await put('/plugin_metadata/geo-ip', { db_path: dbs.city, ip_source_type: 'header', ip_protocol: 'all' });
  await put('/routes/cn', byCountry('/shop/*', 'China', 'china'));
  await put('/routes/se', byCountry('/shop/*', 'Sweden', 'sweden'));
  await put('/routes/rest', routeTo('/shop/*', upstreams.default!.port));
  await eventually(async () => (await served('/shop/a', xff('1.0.1.7'))) === 'china');
  assert.equal(await served('/shop/b', xff('240e:1::9, 81.2.69.1')), 'china', 'IPv6, first item of the header');
  assert.equal(await served('/shop/c', xff('89.160.20.115')), 'sweden');
  assert.equal(await served('/shop/d', xff('2001:4860::1')), 'default', 'another country');
  assert.equal(await served('/shop/e', xff('8.8.8.8')), 'default', 'not in the database');
  assert.equal(await served('/shop/f', xff('10.0.0.1')), 'default', 'a private address');
  assert.equal(await served('/shop/g'), 'default', 'no header');
  assert.equal(await served('/shop/h', xff('not an address')), 'default');
});

test('the plugin-chain inspector picks the route the data plane picks', async () => {
  const picked = async (ip: string): Promise<unknown> => {
    const req = { path: '/shop/x', headers: xff(ip) };
    const r = await call('GET', `/routes/cn/plugin-chain?request=${encodeURIComponent(JSON.stringify(req))}`);
    assert.equal(r.status, 200, r.text);
    return [r.body.request.matches, r.body.request.matched_route_id];
  };
  assert.deepEqual(await picked('240e::1'), [true, 'cn']);
  assert.deepEqual(await picked('89.160.20.115'), [false, 'se']);
});

test('without the plugin, later plugins read the match-time values; with it, its own values win', async () => {
  const showCode = { 'response-rewrite': { headers: { set: { 'X-Geo': '$geo_country_code/$geo_city' } } } };
  await put('/routes/se-show', byCountry('/show/*', 'Sweden', 'sweden', { plugins: showCode }));
  await put('/routes/se-plugin', byCountry('/own/*', 'Sweden', 'sweden', {
    plugins: { ...showCode, 'geo-ip': { db_path: dbs.city, ip_source_type: 'header', ip_header_name: 'X-Real-Client', ip_protocol: 'all' } },
  }));
  await eventually(async () => (await get(`${gw.url}/own/x`, { headers: xff('89.160.20.115') })).status === 200);
  const shown = await get(`${gw.url}/show/x`, { headers: xff('89.160.20.115') });
  assert.equal(shown.headers['x-upstream'], 'sweden');
  assert.match(String(shown.headers['x-geo']), /^SE\/Link/);
  const own = await get(`${gw.url}/own/x`, { headers: { ...xff('89.160.20.115'), 'x-real-client': '2001:4860::1' } });
  assert.equal(own.headers['x-upstream'], 'sweden', 'matched on the metadata\'s header');
  assert.equal(own.headers['x-geo'], 'US/Mountain View', 'the plugin\'s lookup replaced the match-time one');
});

test('a metadata update applies without a restart; deleting it is refused while routes read it', async () => {
  await put('/plugin_metadata/geo-ip', { db_path: dbs.city, ip_source_type: 'header', ip_header_name: 'X-Client-IP', ip_protocol: 'ipv6' });
  await eventually(async () => (await served('/shop/live', { 'x-client-ip': '240e::1', ...xff('89.160.20.115') })) === 'china');
  assert.equal(await served('/shop/v4', { 'x-client-ip': '1.0.1.7' }), 'default', 'ip_protocol ipv6 skips IPv4 addresses');
  assert.equal(await served('/shop/xff', xff('89.160.20.115')), 'default', 'X-Forwarded-For is no longer read');

  const refused = await call('DELETE', '/plugin_metadata/geo-ip');
  assert.equal(refused.status, 400, refused.text);
  assert.match(refused.body.error_msg, /route \[(cn|se|se-show|se-plugin)\] is still using it/);
  const forced = await call('DELETE', '/plugin_metadata/geo-ip?force=true');
  assert.equal(forced.status, 200, forced.text);
  await eventually(async () => (await served('/shop/gone', { 'x-client-ip': '240e::1' })) === 'default');
});
