// The MaxMind databases (.mmdb) geo-ip reads: each path is opened once per process and
// shared by every instance naming it. The file is polled for changes (fs.watchFile, as
// the maxmind package's own watcher does: it also sees a file replaced by a rename,
// which is how geoipupdate installs a new release); a changed file is read in the
// background and swapped in whole, so requests keep using the previous reader until the
// new one is ready and never see a half-read file. A file that fails to parse (caught
// mid-copy, or not a database at all) leaves the previous reader in place.
import { readFileSync, watchFile, type Stats } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { Reader, type Response } from 'maxmind';
import type { Counter } from 'prom-client';
import { logger } from '../../core/logger.js';
import { counter } from '../../observability/metrics.js';

export interface GeoDb {
  readonly path: string;
  /** Replaced when the file changes; read it per lookup, never keep it. */
  reader: Reader<Response>;
  /** Reloads started: only the latest one may swap its reader in. */
  generation: number;
}

/** How often an open database's file is checked for a change. */
export const GEO_DB_POLL_MS = 1000;

const opened = new Map<string, GeoDb>();
let reloads: Counter<'result'> | undefined;

/**
 * The database at `path`, opened on first use. Throws `<field>: ...` when the path is not
 * absolute or the file cannot be read or is not a MaxMind DB (for a 400 at write time).
 */
export function openGeoDb(path: string, field: string): GeoDb {
  const known = opened.get(path);
  if (known !== undefined) return known;
  if (!isAbsolute(path)) throw new Error(`${field}: "${path}" must be an absolute path`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new Error(`${field}: cannot read "${path}" (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const db: GeoDb = { path, reader: parseMmdb(bytes, `${field}: "${path}"`), generation: 0 };
  opened.set(path, db);
  watchFile(path, { interval: GEO_DB_POLL_MS, persistent: false }, (now, before) => onFileChange(db, now, before));
  return db;
}

/** A Reader over `bytes`, or an error saying why they are not a MaxMind DB (prefixed by `what`). */
export function parseMmdb(bytes: Buffer, what: string): Reader<Response> {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    throw new Error(`${what} is gzip-compressed: give the .mmdb inside it`);
  }
  let reader: Reader<Response>;
  try {
    reader = new Reader<Response>(bytes);
  } catch (err) {
    throw new Error(`${what} is not a MaxMind DB file (${(err as Error).message})`);
  }
  const m = reader.metadata;
  const sane = m !== undefined && m.binaryFormatMajorVersion === 2 && (m.ipVersion === 4 || m.ipVersion === 6)
    && Number.isInteger(m.nodeCount) && m.nodeCount > 0 && m.searchTreeSize + 16 <= bytes.length;
  if (!sane) throw new Error(`${what} is not a MaxMind DB file (no valid metadata)`);
  return reader;
}

/** The languages the database has names in (its metadata), empty when it does not say. */
export function languagesOf(db: GeoDb): readonly string[] {
  const languages = db.reader.metadata.languages as unknown;
  return Array.isArray(languages) ? languages.filter((l): l is string => typeof l === 'string') : [];
}

function onFileChange(db: GeoDb, now: Stats, before: Stats): void {
  // a vanished file reports zeroed stats: keep serving what was read
  if (now.nlink === 0 && now.mtimeMs === 0) return;
  if (now.mtimeMs === before.mtimeMs && now.size === before.size && now.ino === before.ino) return;
  void reload(db);
}

async function reload(db: GeoDb): Promise<void> {
  reloads ??= counter('gatehouse_geo_ip_db_reloads_total', 'geo-ip database files read again after they changed, by result', ['result']);
  const generation = ++db.generation;
  try {
    const reader = parseMmdb(await readFile(db.path), `"${db.path}"`);
    if (generation !== db.generation) return;
    db.reader = reader;
    reloads.inc({ result: 'ok' });
    logger().info({ path: db.path }, 'geo-ip: database reloaded');
  } catch (err) {
    reloads.inc({ result: 'failed' });
    logger().warn({ path: db.path, err: (err as Error).message }, 'geo-ip: changed database not loaded, the previous one stays in use');
  }
}
