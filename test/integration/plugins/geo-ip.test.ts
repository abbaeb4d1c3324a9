import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, type Gateway } from '../../helpers/gateway.js';
import { startWithAdminRoute } from '../../helpers/admin-route.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { routeTo, type AdminCall } from '../admin/client.js';
import { logEntry, metricValue } from '../../helpers/observe.js';
import { badLookupFields, cityDb, writeGeoDbs, type GeoDbFiles } from '../../fixtures/geo-dbs.js';

// geo-ip through the real gateway, on databases the test builds (test/helpers/mmdb-writer.ts).

let gw: Gateway;
let up: TestUpstream;
let sweden: TestUpstream;
let call: AdminCall;
let dir: string;
let dbs: GeoDbFiles;

type Echo = { headers: Record<string, string> };
const echoed = async (path: string, headers: Record<string, string> = {}) => {
  const r = await get(gw.url + path, { headers });
  assert.equal(r.status, 200, r.body);
  return { echo: JSON.parse(r.body) as Echo, headers: r.headers };
};
const xff = (ip: string) => ({ 'x-forwarded-for': ip });

async function putRoute(id: string, plugins: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<void> {
  const r = await call('PUT', `/routes/${id}`, { ...routeTo(`/${id}/*`, up.port), plugins, ...extra });
  assert.ok(r.status === 200 || r.status === 201, r.text);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-geo-'));
  dbs = await writeGeoDbs(dir);
  sweden = await startUpstream('sweden');
  ({ gw, up, call } = await startWithAdminRoute('geo', '/geo/*', {
    'geo-ip': { db_path: dbs.city, isp_db_path: dbs.isp, ip_source_type: 'header', ip_protocol: 'all' },
    'file-logger': {
      path: 'geo.log',
      log_format: { uri: '$request_uri', country: '$geo_country', province: '$geo_province', city: '$geo_city', isp: '$geo_isp', result: '$geo_ip_result' },
    },
    // later plugins see the variables: a filter and a header template
    'response-rewrite': { headers: { set: { 'X-Geo-Seen': '$geo_country_code $geo_city' } }, _meta: { filter: [['geo_country_code', 'in', ['SE', 'US']]] } },
    // and can route on the header geo-ip adds (canary-header runs after it)
    'canary-header': { header: 'X-Higress-Geo-Country', value: 'Sweden', upstream: { nodes: { [`127.0.0.1:${sweden.port}`]: 1 } } },
  }, { path: '/geo/probe' }));
  await putRoute('peer', { 'geo-ip': { db_path: dbs.city } });
});

after(async () => {
  await gw?.stop();
  await up?.close();
  await sweden?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

test('IPv4 from X-Forwarded-For (first item): the four headers reach the upstream, query-escaped', async () => {
  const { echo } = await echoed('/geo/a', xff('81.2.69.142, 89.160.20.115'));
  assert.equal(echo.headers['x-higress-geo-country'], 'United+Kingdom');
  assert.equal(echo.headers['x-higress-geo-province'], 'England');
  assert.equal(echo.headers['x-higress-geo-city'], 'London');
  assert.equal(echo.headers['x-higress-geo-isp'], 'Andrews+%26+Arnold+Ltd');
});

test('IPv6 from the header', async () => {
  const { echo } = await echoed('/geo/b', xff('2001:4860:4860::8888'));
  assert.equal(echo.headers['x-higress-geo-country'], 'United+States');
  assert.equal(echo.headers['x-higress-geo-city'], 'Mountain+View');
  assert.equal(echo.headers['x-higress-geo-isp'], 'Google');
});

test('later plugins see the variables (a _meta.filter, a header template) and can route on the header', async () => {
  const se = await echoed('/geo/c', xff('89.160.20.115'));
  assert.equal(se.headers['x-upstream'], 'sweden');
  assert.match(String(se.headers['x-geo-seen']), /^SE /);
  const us = await echoed('/geo/c', xff('2001:4860::1'));
  assert.equal(us.headers['x-upstream'], 'a');
  assert.equal(us.headers['x-geo-seen'], 'US Mountain View');
  const gb = await echoed('/geo/c', xff('81.2.69.1'));
  assert.equal(gb.headers['x-geo-seen'], undefined, 'the filter left response-rewrite out');
});

test('an address the database lacks, or none at all: passed on untouched, counted', async () => {
  const before = await metricValue(gw, 'gatehouse_geo_ip_failures_total{route="geo",reason="not_found"}');
  const missing = await echoed('/geo/d', { ...xff('8.8.8.8'), 'x-higress-geo-country': 'Narnia' });
  assert.equal(missing.echo.headers['x-higress-geo-country'], undefined, 'a client-sent geo header is removed');
  const none = await echoed('/geo/d');
  assert.equal(none.echo.headers['x-higress-geo-city'], undefined);
  await eventually(async () => await metricValue(gw, 'gatehouse_geo_ip_failures_total{route="geo",reason="not_found"}') >= before + 1);
  await eventually(async () => await metricValue(gw, 'gatehouse_geo_ip_failures_total{route="geo",reason="no_address"}') >= 1);
});

test('private ranges get Higress\'s marker; the default source is the client address (loopback here)', async () => {
  const marker = '%E5%86%85%E7%BD%91IP';
  const { echo } = await echoed('/geo/e', xff('10.1.2.3'));
  assert.equal(echo.headers['x-higress-geo-country'], marker);
  assert.equal(echo.headers['x-higress-geo-isp'], marker);
  const peer = await echoed('/peer/x', xff('81.2.69.142'));
  assert.equal(peer.echo.headers['x-higress-geo-city'], marker, 'origin-source ignores X-Forwarded-For');
});

test('the access log has the variables', async () => {
  await echoed('/geo/log?sweden', xff('89.160.20.115'));
  await echoed('/geo/log?nowhere', xff('8.8.8.8'));
  const log = join(gw.dir, 'data', 'logs', 'geo.log');
  const se = await logEntry(log, 'uri', '/geo/log?sweden');
  assert.deepEqual([se.country, se.province, se.city, se.isp, se.result], ['Sweden', 'Östergötland County', 'Linköping', null, 'found']);
  const none = await logEntry(log, 'uri', '/geo/log?nowhere');
  assert.deepEqual([none.country, none.result], [null, 'not_found']);
});

test('a replaced database file is read again without a restart; a broken one is not taken', async () => {
  const cityOf = async (): Promise<string | undefined> => (await echoed('/geo/reload', xff('81.2.69.142'))).echo.headers['x-higress-geo-city'];
  assert.equal(await cityOf(), 'London');
  const failedBefore = await metricValue(gw, 'gatehouse_geo_ip_db_reloads_total{result="failed"}');
  await writeFile(dbs.city, 'not a database any more');
  await eventually(async () => await metricValue(gw, 'gatehouse_geo_ip_db_reloads_total{result="failed"}') > failedBefore, 100, 100);
  assert.equal(await cityOf(), 'London', 'the previous database stays in use');
  // as geoipupdate installs a release: written beside, renamed over
  await writeFile(`${dbs.city}.new`, cityDb('Londinium'));
  await rename(`${dbs.city}.new`, dbs.city);
  await eventually(async () => (await cityOf()) === 'Londinium', 100, 100);
});

test('bad config is refused with a 400 naming the field', async () => {
  for (const [conf, pattern] of await badLookupFields(dir, dbs)) {
    const r = await call('PUT', '/routes/bad', { ...routeTo('/bad', up.port), plugins: { 'geo-ip': conf } });
    assert.equal(r.status, 400, `${JSON.stringify(conf)}: ${r.text}`);
    assert.match(r.body.error_msg, pattern);
  }
});

test('a route\'s vars name a geo variable only with geo-ip\'s metadata (routing by place: geo-ip-routing.test.ts)', async () => {
  const r = await call('PUT', '/routes/by-country', { ...routeTo('/by-country', up.port), vars: [['geo_country', '==', 'Sweden']] });
  assert.equal(r.status, 400, r.text);
  assert.match(r.body.error_msg, /geo_country.*plugin_metadata\/geo-ip/);
});
