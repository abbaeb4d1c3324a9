// A disk zone's files, laid out as nginx's proxy_cache_path: `<disk_path>/<levels>/<md5>`
// where md5 is that of the storage key and the level folders are taken from its end
// (levels 1:2 put `…e4f` under `f/4e/`). A file is written whole to a temporary name and
// renamed into place, so a reader never sees half of one.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { closeSync, openSync, readdirSync, readSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type { CacheZoneConfig } from '../contracts/node-config.js';
import { decodeFile, encodeFile, FILE_HEAD_BYTES, metaLength, type CacheRecord, type FileMeta } from './record.js';

export const TEMP_SUFFIX = '.tmp';

/** The file of `key` in a disk zone (APISIX's util.generate_cache_filename). */
export function cacheFilePath(zone: CacheZoneConfig, key: string): string {
  const md5 = createHash('md5').update(key).digest('hex');
  const parts: string[] = [];
  let end = md5.length;
  for (const level of zone.cache_levels.split(':')) {
    const n = Number(level);
    parts.push(md5.slice(end - n, end));
    end -= n;
  }
  return path.join(zone.disk_path!, ...parts, md5);
}

/** Writes `record` as `key`'s file (temporary file, then rename); resolves to the file's size. */
export async function writeCacheFile(zone: CacheZoneConfig, key: string, record: CacheRecord): Promise<number> {
  const file = cacheFilePath(zone, key);
  const data = encodeFile(key, record);
  await mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`;
  try {
    await writeFile(temp, data);
    await rename(temp, file);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  return data.length;
}

/** `key`'s record, or undefined when it has no file (or the file is not a cache file, or another key's). */
export async function readCacheFile(zone: CacheZoneConfig, key: string): Promise<CacheRecord | undefined> {
  let buf: Buffer;
  try {
    buf = await readFile(cacheFilePath(zone, key));
  } catch {
    return undefined;
  }
  const meta = decodeFile(buf);
  return meta !== undefined && meta.key === key ? meta.record : undefined;
}

/** Removes `key`'s file; true when there was one. */
export async function removeCacheFile(zone: CacheZoneConfig, key: string): Promise<boolean> {
  try {
    await unlink(cacheFilePath(zone, key));
    return true;
  } catch {
    return false;
  }
}

export interface ScannedFile { key: string; record: Omit<CacheRecord, 'body'>; size: number; atimeMs: number }

/**
 * The cache files under a disk zone's folder, read at start to rebuild its index: at
 * most `limit` files are looked at (the rest are found by readers and purges, never
 * evicted until seen), each by its head only; leftover temporary files are removed.
 */
export function scanCacheFiles(zone: CacheZoneConfig, limit: number): ScannedFile[] {
  const out: ScannedFile[] = [];
  let looked = 0;
  const depth = zone.cache_levels.split(':').length;
  const walk = (dir: string, level: number): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (looked >= limit) return;
      const full = path.join(dir, name);
      if (level < depth) {
        walk(full, level + 1);
        continue;
      }
      looked++;
      if (name.endsWith(TEMP_SUFFIX)) {
        rmSync(full, { force: true });
        continue;
      }
      const meta = readMeta(full);
      if (meta !== undefined) out.push(meta);
    }
  };
  walk(zone.disk_path!, 0);
  return out;
}

function readMeta(file: string): ScannedFile | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const head = Buffer.alloc(FILE_HEAD_BYTES);
    if (readSync(fd, head, 0, FILE_HEAD_BYTES, 0) < FILE_HEAD_BYTES) return undefined;
    const len = metaLength(head);
    if (len < 0 || len > 1024 * 1024) return undefined;
    const meta = Buffer.alloc(FILE_HEAD_BYTES + len);
    head.copy(meta);
    if (readSync(fd, meta, FILE_HEAD_BYTES, len, FILE_HEAD_BYTES) < len) return undefined;
    const decoded: FileMeta | undefined = decodeFile(meta);
    if (decoded === undefined) return undefined;
    const st = statSync(file);
    return { key: decoded.key, record: decoded.record, size: st.size, atimeMs: st.mtimeMs };
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
