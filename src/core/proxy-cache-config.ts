// `proxy_cache` in config.yaml, shaped as APISIX's `apisix.proxy_cache`: sizes as nginx
// writes them (`50m`, `1G`), `cache_ttl` as an nginx time (`10s`, `5m`) or seconds, and
// the zones proxy-cache stores in. Zones the file lists replace the built-in two
// (`disk_cache_one`, `memory_cache`), as APISIX's do; the default disk zone lives under
// the data directory rather than APISIX's /tmp.
import path from 'node:path';
import type { CacheZoneConfig, ProxyCacheConfig } from '../contracts/node-config.js';

type Obj = Record<string, unknown>;

const SIZE = '^[0-9]+[kKmMgG]?$';
const TIME = '^[0-9]+(ms|s|m|h|d)?$';

export const PROXY_CACHE_SCHEMA: Obj = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    cache_ttl: {
      anyOf: [{ type: 'integer', minimum: 1 }, { type: 'string', pattern: TIME }],
      default: '10s',
      'x-message': 'must be a time such as 10s, 5m, 1h (or seconds >= 1)',
    },
    zones: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 100, 'x-message': 'must be a name of 1-100 characters' },
          memory_size: { type: ['string', 'integer'], pattern: SIZE, minimum: 1, default: '50m', 'x-message': 'must be a size such as 50m, 1g, 512k (or bytes)' },
          disk_size: { type: ['string', 'integer'], pattern: SIZE, minimum: 1, 'x-message': 'must be a size such as 50m, 1g, 512k (or bytes)' },
          disk_path: { type: 'string', minLength: 1, 'x-message': 'must be a folder' },
          cache_levels: { type: 'string', pattern: '^[12](:[12]){0,2}$', default: '1:2', 'x-message': 'must be nginx levels such as 1:2 (1 or 2, up to three levels)' },
        },
      },
      'x-message': 'must be a non-empty list of {name, memory_size, disk_size, disk_path, cache_levels}',
    },
  },
};

const UNITS: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
const TIME_UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/** `50m` → bytes. */
export function parseSize(v: string | number): number {
  if (typeof v === 'number') return v;
  const unit = v.slice(-1).toLowerCase();
  return unit in UNITS ? Number(v.slice(0, -1)) * UNITS[unit]! : Number(v);
}

/** `10s` → seconds. */
export function parseTime(v: string | number): number {
  if (typeof v === 'number') return v;
  const m = /^([0-9]+)([a-z]*)$/.exec(v)!;
  return Number(m[1]) * (TIME_UNITS[m[2] || 's'] ?? 1);
}

/** The zones and ttl of a schema-checked `proxy_cache` block; throws naming the key on a bad zone. */
export function resolveProxyCache(raw: Obj, dir: string, dataDir: string): ProxyCacheConfig {
  const cacheTtl = parseTime(raw.cache_ttl as string | number);
  if (cacheTtl < 1) throw new Error('proxy_cache.cache_ttl: must be at least 1s');
  const given = raw.zones as Obj[] | undefined;
  const zones: CacheZoneConfig[] = given === undefined
    ? [
      { name: 'disk_cache_one', memory_size: 50 * UNITS.m!, disk_size: UNITS.g!, disk_path: path.join(dataDir, 'proxy_cache', 'disk_cache_one'), cache_levels: '1:2' },
      { name: 'memory_cache', memory_size: 50 * UNITS.m!, cache_levels: '1:2' },
    ]
    : given.map((z, i) => zoneOf(z, `proxy_cache.zones[${i}]`, dir));
  const seen = new Set<string>();
  zones.forEach((z, i) => {
    if (seen.has(z.name)) throw new Error(`proxy_cache.zones[${i}].name: zone "${z.name}" is declared twice`);
    seen.add(z.name);
  });
  return { cache_ttl: cacheTtl, zones };
}

function zoneOf(z: Obj, at: string, dir: string): CacheZoneConfig {
  const memory = parseSize(z.memory_size as string | number);
  if (memory < 64 * 1024) throw new Error(`${at}.memory_size: must be at least 64k`);
  const zone: CacheZoneConfig = { name: String(z.name), memory_size: memory, cache_levels: String(z.cache_levels) };
  if (z.disk_path === undefined) {
    if (z.disk_size !== undefined) throw new Error(`${at}.disk_size: needs disk_path (a zone without disk_path is a memory zone)`);
    return zone;
  }
  zone.disk_path = path.resolve(dir, String(z.disk_path));
  zone.disk_size = z.disk_size === undefined ? UNITS.g! : parseSize(z.disk_size as string | number);
  if (zone.disk_size < 64 * 1024) throw new Error(`${at}.disk_size: must be at least 64k`);
  return zone;
}
