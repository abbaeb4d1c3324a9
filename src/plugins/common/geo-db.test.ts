import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GEO_DB_POLL_MS, openGeoDb } from './geo-db.js';
import { buildMmdb, cityRecord } from '../../../test/helpers/mmdb-writer.js';

const LONG_NAME = 'Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch';

function db(city: string): Buffer {
  return buildMmdb([{ cidr: '81.2.69.0/24', data: cityRecord({ countryCode: 'GB', country: { en: 'United Kingdom' }, city: { en: city } }) }],
    { databaseType: 'GeoIP2-City' });
}

const cityIn = (path: string): unknown => (openGeoDb(path, 'db_path').reader.get('81.2.69.1') as { city?: { names: { en: string } } } | null)?.city?.names.en;

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 40 && !check(); i++) await new Promise((r) => setTimeout(r, GEO_DB_POLL_MS / 4));
  assert.ok(check(), 'condition not met in time');
}

test('one reader per path, shared; a relative path is refused naming the field', async () => {
  const path = join(await mkdtemp(join(tmpdir(), 'gatehouse-geo-db-')), 'city.mmdb');
  await writeFile(path, db(LONG_NAME));
  assert.equal(openGeoDb(path, 'db_path'), openGeoDb(path, 'isp_db_path'));
  assert.equal(cityIn(path), LONG_NAME, 'a string past 29 bytes (the extended size form) reads back');
  assert.throws(() => openGeoDb('GeoLite2-City.mmdb', 'isp_db_path'), /^Error: isp_db_path: "GeoLite2-City.mmdb" must be an absolute path/);
});

test('a changed file is swapped in; one that does not parse leaves the previous reader', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-geo-db-'));
  const path = join(dir, 'city.mmdb');
  await writeFile(path, db('London'));
  const shared = openGeoDb(path, 'db_path');
  const first = shared.reader;
  await writeFile(path, 'half a database');
  await new Promise((r) => setTimeout(r, GEO_DB_POLL_MS * 2.5));
  assert.equal(shared.reader, first);
  assert.equal(cityIn(path), 'London');
  await writeFile(join(dir, 'next.mmdb'), db('Londinium'));
  await rename(join(dir, 'next.mmdb'), path);
  await until(() => cityIn(path) === 'Londinium');
  assert.equal(openGeoDb(path, 'db_path'), shared, 'instances keep the same entry, whose reader changed');
});
