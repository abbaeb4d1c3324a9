import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import geoIp, { PRIVATE_MARKER, parseAddress, queryEscape } from './geo-ip.js';
import { createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';
import { writeGeoDbs, type GeoDbFiles } from '../../test/fixtures/geo-dbs.js';
import { buildMmdb, cityRecord } from '../../test/helpers/mmdb-writer.js';

let dir: string;
let dbs: GeoDbFiles;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-geo-unit-'));
  dbs = await writeGeoDbs(dir);
});

function run(conf: Record<string, unknown>, opts: { remoteAddr?: string; headers?: Record<string, string> }) {
  const ctx = createTestContext({ routeId: 'r1', ...opts });
  const result = geoIp.rewrite!(prepareWith(geoIp, { db_path: dbs.city, ...conf }), ctx);
  assert.equal(result, undefined, 'geo-ip never ends a request');
  return ctx;
}

test('schema: db_path required and absolute; Higress\'s enums; no unknown fields', () => {
  assert.match(schemaError(geoIp.schema, {})!, /db_path/);
  assert.match(schemaError(geoIp.schema, { db_path: 'GeoLite2-City.mmdb' })!, /property "db_path"/);
  assert.match(schemaError(geoIp.schema, { db_path: '/x.mmdb', ip_protocol: 'ipv5' })!, /ip_protocol/);
  assert.match(schemaError(geoIp.schema, { db_path: '/x.mmdb', ip_source_type: 'socket' })!, /ip_source_type/);
  assert.match(schemaError(geoIp.schema, { db_path: '/x.mmdb', ip_header_name: 'bad header' })!, /ip_header_name/);
  assert.match(schemaError(geoIp.schema, { db_path: '/x.mmdb', language: 'english language' })!, /language/);
  assert.match(schemaError(geoIp.schema, { db_path: '/x.mmdb', isp_db_path: 'rel.mmdb' })!, /isp_db_path/);
  assert.match(schemaError(geoIp.schema, { db_path: '/x.mmdb', db: '/y' })!, /db/);
  assert.equal(schemaError(geoIp.schema, { db_path: '/x.mmdb', ip_protocol: 'all', ip_source_type: 'header', ip_header_name: 'X-Real-Ip' }), undefined);
});

test('prepare refuses a missing file, a file that is not a MaxMind DB, and a language the database lacks', async () => {
  assert.throws(() => prepareWith(geoIp, { db_path: join(dir, 'absent.mmdb') }), /^Error: db_path: cannot read ".*absent\.mmdb" \(ENOENT\)/);
  const text = join(dir, 'not-a-db.mmdb');
  await writeFile(text, 'hello, this is text\n'.repeat(10));
  assert.throws(() => prepareWith(geoIp, { db_path: text }), /db_path: ".*not-a-db\.mmdb" is not a MaxMind DB file/);
  const gz = join(dir, 'db.mmdb.gz');
  await writeFile(gz, Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]));
  assert.throws(() => prepareWith(geoIp, { db_path: gz }), /db_path: .* is gzip-compressed/);
  assert.throws(() => prepareWith(geoIp, { db_path: dbs.city, isp_db_path: text }), /^Error: isp_db_path: .* is not a MaxMind DB file/);
  assert.throws(() => prepareWith(geoIp, { db_path: dbs.city, language: 'fr' }), /language: "fr" is not among the database's languages \(de, en, zh-CN\)/);
});

test('IPv4 peer address: country, province, city as headers (query-escaped) and variables', () => {
  const ctx = run({}, { remoteAddr: '81.2.69.142' });
  assert.equal(ctx.request.headers['x-higress-geo-country'], 'United+Kingdom');
  assert.equal(ctx.request.headers['x-higress-geo-province'], 'England');
  assert.equal(ctx.request.headers['x-higress-geo-city'], 'London');
  assert.equal(ctx.request.headers['x-higress-geo-isp'], undefined, 'a City database has no ISP');
  assert.equal(ctx.setVars.get('geo_country'), 'United Kingdom');
  assert.equal(ctx.setVars.get('geo_country_code'), 'GB');
  assert.equal(ctx.setVars.get('geo_ip_result'), 'found');
});

test('ip_protocol: ipv4 skips IPv6 clients, ipv6 skips IPv4 ones, all looks both up', () => {
  const v6 = '2001:4860:4860::8888';
  assert.equal(run({}, { remoteAddr: v6 }).setVars.get('geo_ip_result'), 'skipped');
  assert.equal(run({ ip_protocol: 'ipv6' }, { remoteAddr: '81.2.69.142' }).setVars.get('geo_ip_result'), 'skipped');
  const six = run({ ip_protocol: 'ipv6' }, { remoteAddr: v6 });
  assert.equal(six.request.headers['x-higress-geo-city'], 'Mountain+View');
  assert.equal(six.setVars.get('geo_province'), 'California');
  assert.equal(run({ ip_protocol: 'all' }, { remoteAddr: v6 }).setVars.get('geo_country'), 'United States');
  assert.equal(run({ ip_protocol: 'all' }, { remoteAddr: '81.2.69.1' }).setVars.get('geo_country'), 'United Kingdom');
});

test('header source: the first comma item of the header, with or without a port', () => {
  const conf = { ip_source_type: 'header', ip_protocol: 'all' };
  const first = run(conf, { remoteAddr: '127.0.0.1', headers: { 'x-forwarded-for': '89.160.20.115, 81.2.69.142' } });
  assert.equal(first.setVars.get('geo_city'), 'Linköping');
  assert.equal(first.request.headers['x-higress-geo-city'], 'Link%C3%B6ping');
  assert.equal(first.request.headers['x-higress-geo-province'], '%C3%96sterg%C3%B6tland+County');
  const named = run({ ...conf, ip_header_name: 'X-Real-Ip' }, { headers: { 'x-real-ip': '[2001:4860::1]:443' } });
  assert.equal(named.setVars.get('geo_country_code'), 'US');
  const missing = run({ ...conf, ip_header_name: 'X-Real-Ip' }, { remoteAddr: '81.2.69.142', headers: {} });
  assert.equal(missing.setVars.get('geo_ip_result'), 'no_address');
  assert.equal(missing.setVars.get('geo_country'), undefined);
  assert.equal(run(conf, { headers: { 'x-forwarded-for': 'unknown' } }).setVars.get('geo_ip_result'), 'bad_address');
});

test('private and reserved ranges (Higress\'s, and IPv6\'s) get the marker in every field', () => {
  for (const ip of ['10.1.2.3', '127.0.0.1', '100.100.1.1', '192.168.0.9', '203.0.113.7', '::1', 'fd00::5', 'fe80::1', '::ffff:172.16.0.1']) {
    const ctx = run({ ip_protocol: 'all' }, { remoteAddr: ip });
    assert.equal(ctx.setVars.get('geo_ip_result'), 'private', ip);
    for (const v of ['geo_country', 'geo_province', 'geo_city', 'geo_isp']) assert.equal(ctx.setVars.get(v), PRIVATE_MARKER, `${ip} ${v}`);
    assert.equal(ctx.request.headers['x-higress-geo-isp'], queryEscape(PRIVATE_MARKER));
  }
  assert.equal(run({}, { remoteAddr: '100.128.0.1' }).setVars.get('geo_ip_result'), 'not_found', 'just past 100.64.0.0/10');
});

test('an address the database does not have: nothing added, counted as not_found', () => {
  const ctx = run({}, { remoteAddr: '8.8.8.8' });
  assert.equal(ctx.setVars.get('geo_ip_result'), 'not_found');
  assert.equal(ctx.request.headers['x-higress-geo-country'], undefined);
});

test('client-sent X-Higress-Geo-* headers never reach the upstream', () => {
  const spoofed = { 'x-higress-geo-country': 'Narnia', 'x-higress-geo-city': 'Cair+Paravel' };
  const unknown = run({}, { remoteAddr: '8.8.8.8', headers: spoofed });
  assert.equal(unknown.request.headers['x-higress-geo-country'], undefined);
  const bhutan = run({}, { remoteAddr: '67.43.156.9', headers: spoofed });
  assert.equal(bhutan.request.headers['x-higress-geo-country'], 'Bhutan');
  assert.equal(bhutan.request.headers['x-higress-geo-city'], undefined, 'a country-only record sets no city');
});

test('language picks the names, English where the record has none in it', () => {
  const de = run({ language: 'de' }, { remoteAddr: '81.2.69.142' });
  assert.equal(de.setVars.get('geo_country'), 'Vereinigtes Königreich');
  assert.equal(de.request.headers['x-higress-geo-country'], 'Vereinigtes+K%C3%B6nigreich');
  assert.equal(run({ language: 'de' }, { remoteAddr: '67.43.156.9' }).setVars.get('geo_country'), 'Bhutan');
  assert.equal(run({ language: 'zh-CN' }, { remoteAddr: '81.2.69.142' }).setVars.get('geo_city'), '伦敦');
});

test('ISP from a GeoIP2-ISP database (`isp`) or a GeoLite2-ASN one (`autonomous_system_organization`)', () => {
  const isp = run({ isp_db_path: dbs.isp }, { remoteAddr: '81.2.69.142' });
  assert.equal(isp.setVars.get('geo_isp'), 'Andrews & Arnold Ltd');
  assert.equal(isp.request.headers['x-higress-geo-isp'], 'Andrews+%26+Arnold+Ltd');
  assert.equal(isp.setVars.get('geo_city'), 'London');
  const asn = run({ isp_db_path: dbs.asn }, { remoteAddr: '89.160.20.1' });
  assert.equal(asn.setVars.get('geo_isp'), 'Bredband2 AB');
  assert.equal(asn.setVars.get('geo_country'), undefined, '89.160.20.1 is outside the city database\'s /28');
  assert.equal(asn.setVars.get('geo_ip_result'), 'found');
});

test('an IPv4-only database: IPv4 found, IPv6 not found (never walked)', async () => {
  const path = join(dir, 'v4-only.mmdb');
  await writeFile(path, buildMmdb([{ cidr: '81.2.69.0/24', data: cityRecord({ countryCode: 'GB', country: { en: 'United Kingdom' } }) }],
    { databaseType: 'GeoLite2-Country', ipVersion: 4 }));
  assert.equal(run({ db_path: path, ip_protocol: 'all' }, { remoteAddr: '81.2.69.1' }).setVars.get('geo_country'), 'United Kingdom');
  assert.equal(run({ db_path: path, ip_protocol: 'all' }, { remoteAddr: '2001:4860::1' }).setVars.get('geo_ip_result'), 'not_found');
});

test('parseAddress: first item, ports and brackets dropped, IPv4-mapped IPv6 as IPv4', () => {
  const cases: [string, string][] = [
    [' 1.2.3.4 , 5.6.7.8', '1.2.3.4'], ['1.2.3.4:8080', '1.2.3.4'], ['[2001:db8::1]:443', '2001:db8::1'],
    ['2001:db8::1', '2001:db8::1'], ['::ffff:81.2.69.1', '81.2.69.1'], ['fe80::1%eth0', 'fe80::1'],
  ];
  for (const [value, address] of cases) assert.equal(parseAddress(value), address, value);
  for (const bad of ['', 'unknown', '1.2.3', '[::1', '999.1.1.1']) assert.equal(parseAddress(bad), undefined, bad);
});

test('queryEscape is Go\'s url.QueryEscape', () => {
  assert.equal(queryEscape('São Paulo'), 'S%C3%A3o+Paulo');
  assert.equal(queryEscape("a-b_c.d~e!'()*/+&"), 'a-b_c.d~e%21%27%28%29%2A%2F%2B%26');
  assert.equal(queryEscape(PRIVATE_MARKER), '%E5%86%85%E7%BD%91IP');
});
