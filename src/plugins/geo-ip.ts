// geo-ip (Higress): looks the client's address up in a MaxMind database and hands the
// place on to the upstream (request headers X-Higress-Geo-Country/Province/City/Isp,
// query-escaped as Higress does) and to everything after it in the request (variables
// $geo_country, $geo_province, $geo_city, $geo_isp for later plugins' `_meta.filter`,
// templates and logs). It never refuses a request: an address it cannot read or find
// leaves the request as it came, counted in gatehouse_geo_ip_failures_total.
//
// Routes are matched before plugins run, so for route `vars` the same fields in the
// plugin's metadata (node-wide settings) configure a lookup the variables resolve at
// match time: lazily, once per request that reads one; the plugin's own values win once
// it ran.
//
// Gatehouse differences: Higress embeds an ip2region table and skips IPv6; Gatehouse
// reads a GeoIP2/GeoLite2 .mmdb the user supplies (`db_path`, and `isp_db_path` for an
// ISP or ASN database), IPv4 and IPv6 alike (`ip_protocol: all` for both). Client-sent
// X-Higress-Geo-* headers are removed, so the upstream can trust the ones it gets.
import { BlockList, isIP } from 'node:net';
import type { Logger } from 'pino';
import type { MatchTimeRequest, PluginContext } from '../contracts/plugin.js';
import { registerMatchTimeVariable, registerVariable } from '../core/expr/index.js';
import { logger } from '../core/logger.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { counter } from '../observability/metrics.js';
import type { Counter } from 'prom-client';
import { languagesOf, openGeoDb, type GeoDb } from './common/geo-db.js';

export interface GeoIpConf {
  ip_protocol: 'ipv4' | 'ipv6' | 'all';
  ip_source_type: 'origin-source' | 'header';
  ip_header_name: string;
  db_path: string;
  isp_db_path?: string;
  language: string;
}

interface GeoIpPrepared {
  families: ReadonlySet<4 | 6>;
  /** Lower-cased; undefined reads the client address. */
  header: string | undefined;
  db: GeoDb;
  ispDb: GeoDb | undefined;
  language: string;
}

/** What a lookup found; an absent field is one the database has no value for. */
export interface GeoPlace {
  country?: string;
  countryCode?: string;
  province?: string;
  city?: string;
  isp?: string;
}

/** Higress's value for every field of a private or reserved address ("intranet IP"). */
export const PRIVATE_MARKER = '内网IP';

export const GEO_HEADERS = {
  country: 'x-higress-geo-country', province: 'x-higress-geo-province', city: 'x-higress-geo-city', isp: 'x-higress-geo-isp',
} as const;

const VARIABLES = { country: 'geo_country', province: 'geo_province', city: 'geo_city', isp: 'geo_isp' } as const;
/** Also the country's ISO 3166-1 code (MaxMind's `iso_code`), for filters; nil for private addresses. */
const FIELD_OF_VARIABLE = new Map<string, keyof GeoPlace>([
  ...Object.entries(VARIABLES).map(([field, name]) => [name, field as keyof GeoPlace] as const),
  ['geo_country_code', 'countryCode'],
]);
for (const name of FIELD_OF_VARIABLE.keys()) registerMatchTimeVariable(name, 'geo-ip');
/** For access logs: found, private, not_found, skipped (another address family), no_address, bad_address, error. */
registerVariable('geo_ip_result');

type Failure = 'no_address' | 'bad_address' | 'not_found' | 'error';
type LookupResult = 'found' | 'private' | 'skipped' | Failure;
interface Located { result: LookupResult; place?: GeoPlace }
let failures: Counter<'route' | 'reason'> | undefined;

// Higress's IPv4 list (ip2region's reserved ranges), and the IPv6 equivalents it never had.
const PRIVATE_RANGES: readonly [string, number, 'ipv4' | 'ipv6'][] = [
  ['0.0.0.0', 8, 'ipv4'], ['10.0.0.0', 8, 'ipv4'], ['100.64.0.0', 10, 'ipv4'], ['127.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'], ['172.16.0.0', 12, 'ipv4'], ['192.0.0.0', 24, 'ipv4'], ['192.0.2.0', 24, 'ipv4'],
  ['192.88.99.0', 24, 'ipv4'], ['192.168.0.0', 16, 'ipv4'], ['198.18.0.0', 15, 'ipv4'], ['198.51.100.0', 24, 'ipv4'],
  ['203.0.113.0', 24, 'ipv4'], ['224.0.0.0', 3, 'ipv4'],
  ['::', 128, 'ipv6'], ['::1', 128, 'ipv6'], ['100::', 64, 'ipv6'], ['2001:db8::', 32, 'ipv6'],
  ['fc00::', 7, 'ipv6'], ['fe80::', 10, 'ipv6'], ['ff00::', 8, 'ipv6'],
];
const PRIVATE = new BlockList();
for (const [net, prefix, type] of PRIVATE_RANGES) PRIVATE.addSubnet(net, prefix, type);

const HEADER_NAME = '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$';
const ABSOLUTE_PATH = { type: 'string', minLength: 2, maxLength: 4096, pattern: '^/' };

/** The lookup's fields: the plugin's config, and its metadata for route `vars` (a fresh object each, defaults are filled in). */
function lookupSchema(): Record<string, unknown> {
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      ip_protocol: { type: 'string', enum: ['ipv4', 'ipv6', 'all'], default: 'ipv4' },
      ip_source_type: { type: 'string', enum: ['origin-source', 'header'], default: 'origin-source' },
      ip_header_name: { type: 'string', minLength: 1, maxLength: 256, pattern: HEADER_NAME, default: 'X-Forwarded-For' },
      db_path: { ...ABSOLUTE_PATH, description: 'a GeoIP2/GeoLite2 City or Country database (.mmdb)' },
      isp_db_path: { ...ABSOLUTE_PATH, description: 'a GeoIP2-ISP or GeoLite2-ASN database (.mmdb)' },
      language: { type: 'string', pattern: '^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$', maxLength: 32, default: 'en' },
    },
    required: ['db_path'],
  };
}

export default definePlugin<GeoIpConf, GeoIpPrepared>({
  name: 'geo-ip',
  description: 'Looks the client address up in a MaxMind database and passes country, province, city and ISP on as request headers and variables.',
  version: '1.0.0',
  stage: 'authorization',
  priority: 440,
  schema: lookupSchema(),
  metadataSchema: lookupSchema(),

  prepare: prepareLookup,
  checkMetadata(metadata) {
    prepareLookup(metadata as unknown as GeoIpConf);
  },

  matchTimeVariables(metadata) {
    const p = prepareLookup(metadata as unknown as GeoIpConf);
    const log = logger().child({ plugin: 'geo-ip' });
    const locateRequest = (request: MatchTimeRequest): Located => {
      const raw = p.header === undefined ? request.get('remote_addr') : request.header(p.header);
      return locate(p, typeof raw === 'string' ? raw : undefined, log);
    };
    return (name, request) => request.memo(p, () => locateRequest(request)).place?.[FIELD_OF_VARIABLE.get(name)!];
  },

  rewrite(p, ctx) {
    for (const name of Object.values(GEO_HEADERS)) {
      if (ctx.request.header(name) !== undefined) ctx.request.setHeader(name, undefined);
    }
    const { result, place } = locate(p, p.header === undefined ? clientAddress(ctx) : ctx.request.header(p.header), ctx.log);
    // set even when nil: the plugin's answer wins over the match-time lookup's
    publish(ctx, place);
    ctx.setVar('geo_ip_result', result);
    if (result !== 'found' && result !== 'private' && result !== 'skipped') countFailure(ctx, result);
    return undefined;
  },
});

function prepareLookup(conf: GeoIpConf): GeoIpPrepared {
  const db = openGeoDb(conf.db_path, 'db_path');
  const language = conf.language ?? 'en';
  const languages = languagesOf(db);
  if (languages.length > 0 && !languages.includes(language)) {
    throw new Error(`language: "${language}" is not among the database's languages (${languages.join(', ')})`);
  }
  const protocol = conf.ip_protocol ?? 'ipv4';
  return {
    families: new Set<4 | 6>(protocol === 'all' ? [4, 6] : protocol === 'ipv6' ? [6] : [4]),
    header: (conf.ip_source_type ?? 'origin-source') === 'header' ? (conf.ip_header_name ?? 'X-Forwarded-For').toLowerCase() : undefined,
    db,
    ispDb: conf.isp_db_path === undefined ? undefined : openGeoDb(conf.isp_db_path, 'isp_db_path'),
    language,
  };
}

/** The place of the address in `raw` (a header value or the peer address), with how the lookup went. */
function locate(p: GeoIpPrepared, raw: string | undefined, log: Pick<Logger, 'warn'>): Located {
  if (raw === undefined || raw.trim() === '') return { result: 'no_address' };
  const ip = parseAddress(raw);
  if (ip === undefined) return { result: 'bad_address' };
  const family = isIP(ip) as 4 | 6;
  if (!p.families.has(family)) return { result: 'skipped' };
  if (PRIVATE.check(ip, family === 4 ? 'ipv4' : 'ipv6')) return { result: 'private', place: PRIVATE_PLACE };
  try {
    const place = lookup(p, ip, family);
    return place === undefined ? { result: 'not_found' } : { result: 'found', place };
  } catch (err) {
    log.warn({ err: (err as Error).message, ip }, 'geo-ip: lookup failed');
    return { result: 'error' };
  }
}

const PRIVATE_PLACE: GeoPlace = Object.freeze({ country: PRIVATE_MARKER, province: PRIVATE_MARKER, city: PRIVATE_MARKER, isp: PRIVATE_MARKER });

function clientAddress(ctx: PluginContext): string | undefined {
  const addr = ctx.var('remote_addr');
  return typeof addr === 'string' ? addr : ctx.request.remoteAddr;
}

function countFailure(ctx: PluginContext, reason: Failure): void {
  failures ??= counter('gatehouse_geo_ip_failures_total', 'Requests geo-ip passed on without a place, by route and reason', ['route', 'reason']);
  failures.inc({ route: ctx.routeId ?? '', reason });
}

/**
 * The address in a header value or a peer address: the first comma-separated item (as
 * Higress), without a port (`1.2.3.4:80`, `[::1]:80`); an IPv4-mapped IPv6 address is
 * its IPv4 address. Undefined when it is not an address.
 */
export function parseAddress(value: string): string | undefined {
  let s = value.split(',', 1)[0]!.trim();
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0) return undefined;
    s = s.slice(1, end);
  } else if (s.includes('.') && s.indexOf(':') === s.lastIndexOf(':')) {
    s = s.split(':', 1)[0]!;
  }
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const family = isIP(s);
  if (family === 0) return undefined;
  if (family === 6 && /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(s)) return s.slice(7);
  return s;
}

/** The place of `ip` in the configured databases; undefined when neither knows it. */
export function lookup(p: Pick<GeoIpPrepared, 'db' | 'ispDb' | 'language'>, ip: string, family: 4 | 6): GeoPlace | undefined {
  const record = find(p.db, ip, family);
  const ispRecord = p.ispDb === undefined ? undefined : find(p.ispDb, ip, family);
  if (record === undefined && ispRecord === undefined) return undefined;
  const place: GeoPlace = {};
  if (record !== undefined) {
    const country = (record.country ?? record.registered_country) as Named | undefined;
    place.country = nameIn(country, p.language);
    if (typeof country?.iso_code === 'string') place.countryCode = country.iso_code;
    const subdivisions = record.subdivisions;
    place.province = nameIn(Array.isArray(subdivisions) ? subdivisions[0] as Named : undefined, p.language);
    place.city = nameIn(record.city as Named | undefined, p.language);
    place.isp = ispOf(record) ?? ispOf(record.traits as Record<string, unknown> | undefined);
  }
  if (ispRecord !== undefined) place.isp = ispOf(ispRecord) ?? place.isp;
  return place;
}

interface Named { names?: Record<string, unknown>; iso_code?: unknown }

function find(db: GeoDb, ip: string, family: 4 | 6): Record<string, unknown> | undefined {
  // an IPv4-only database has no IPv6 branch to walk
  if (family === 6 && db.reader.metadata.ipVersion === 4) return undefined;
  const record = db.reader.get(ip) as unknown;
  return typeof record === 'object' && record !== null ? record as Record<string, unknown> : undefined;
}

/** The name in `language`, else in English (MaxMind's records always have `en`). */
function nameIn(item: Named | undefined, language: string): string | undefined {
  const names = item?.names;
  if (names === undefined || names === null) return undefined;
  const name = names[language] ?? names.en;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/** GeoIP2-ISP's `isp`, else the AS organisation (GeoLite2-ASN has only that). */
function ispOf(record: Record<string, unknown> | undefined): string | undefined {
  const isp = record?.isp ?? record?.autonomous_system_organization;
  return typeof isp === 'string' && isp !== '' ? isp : undefined;
}

function publish(ctx: PluginContext, place: GeoPlace | undefined): void {
  for (const field of ['country', 'province', 'city', 'isp'] as const) {
    const value = place?.[field];
    if (value !== undefined) ctx.request.setHeader(GEO_HEADERS[field], queryEscape(value));
    ctx.setVar(VARIABLES[field], value);
  }
  ctx.setVar('geo_country_code', place?.countryCode);
}

/** Go's url.QueryEscape, which Higress applies to the header values: space as `+`, only A–Z a–z 0–9 `-_.~` kept. */
export function queryEscape(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}
