// cluster-key-rate-limit's `rule_items`: where an item reads its value and which of its
// `limit_keys` that value falls under. Plain kinds (`limit_by_header|param|consumer|cookie`)
// count each listed key exactly; the per kinds count each distinct value on its own,
// for keys `*` (every value) or `regexp:<RE2>` (values the expression finds, unanchored
// as Go's MatchString); `limit_by_per_ip` counts each client address inside a listed
// address or CIDR. Values are read as Higress reads them, except the consumer: Higress
// reads the `X-Mse-Consumer` header its auth plugins set, here it is the consumer the
// gateway's auth plugins identified (`$consumer_name`), so a client cannot pick its bucket.
import type { RE2JS } from 're2js';
import type { PluginContext } from '../../contracts/plugin.js';
import { compileRe2 } from '../../core/expr/pcre.js';
import { compileIpMatcher, isValidIpOrCidr, type IpMatcher } from '../../core/ip-matcher.js';
import { decodedQueryParam, keyQuota, type KeyQuota, type LimitKeyEntry, type LimitUnit } from './key-limits.js';

const TYPES = [
  'limit_by_header', 'limit_by_param', 'limit_by_consumer', 'limit_by_cookie',
  'limit_by_per_header', 'limit_by_per_param', 'limit_by_per_consumer', 'limit_by_per_cookie', 'limit_by_per_ip',
] as const;

export type RuleItemType = (typeof TYPES)[number];
export type RuleItemConf = Partial<Record<RuleItemType, string>> & { limit_keys: LimitKeyEntry[] };

/** Higress's consumer source, part of the counter's name. */
const CONSUMER_SOURCE = 'x-mse-consumer';

export interface RuleItem {
  type: RuleItemType;
  /** The counter name's source part: the header, parameter or cookie name, `x-mse-consumer`, or the `limit_by_per_ip` text. */
  source: string;
  /** The value of a request and its quota when one of the limit_keys takes it. */
  match(ctx: PluginContext): { value: string; quota: KeyQuota } | undefined;
}

interface KeyTest {
  quota: KeyQuota;
  test(value: string): boolean;
}

/** `unit`: `query` counts requests (`query_per_*`), `token` an AI call's tokens (ai-token-ratelimit's `token_per_*`). */
export function compileRuleItem(conf: RuleItemConf, field: string, unit: LimitUnit = 'query'): RuleItem {
  const set = TYPES.filter((t) => conf[t] !== undefined);
  if (set.length !== 1) throw new Error(`${field}: exactly one of ${TYPES.join(', ')} must be set`);
  const type = set[0]!;
  const name = conf[type]!;
  const source = type === 'limit_by_consumer' || type === 'limit_by_per_consumer' ? CONSUMER_SOURCE : name;
  const read = reader(type, name);
  if (type === 'limit_by_per_ip') {
    const nets = conf.limit_keys.map((e, i) => ipKey(e, `${field}.limit_keys[${i}]`, unit));
    return {
      type, source,
      match(ctx) {
        const ip = clientIp(read(ctx));
        if (ip === undefined) return undefined;
        const net = nets.find((n) => n.test(ip));
        return net === undefined ? undefined : { value: ip, quota: net.quota };
      },
    };
  }
  const perValue = type.startsWith('limit_by_per_');
  const keys = conf.limit_keys.map((e, i) => (perValue ? patternKey(e, `${field}.limit_keys[${i}]`, type, unit) : exactKey(e, `${field}.limit_keys[${i}]`, unit)));
  return {
    type, source,
    match(ctx) {
      const value = read(ctx);
      if (value === undefined) return undefined;
      const key = keys.find((k) => k.test(value));
      return key === undefined ? undefined : { value, quota: key.quota };
    },
  };
}

function reader(type: RuleItemType, name: string): (ctx: PluginContext) => string | undefined {
  switch (type) {
    case 'limit_by_header': case 'limit_by_per_header': case 'limit_by_per_ip': {
      if (type === 'limit_by_per_ip') {
        if (name === 'from-remote-addr') return (ctx) => stringVar(ctx, 'remote_addr') ?? ctx.request.remoteAddr;
        const header = name.slice('from-header-'.length).toLowerCase();
        // Higress: the first of a comma-separated list (X-Forwarded-For)
        return (ctx) => ctx.request.header(header)?.trim().split(',')[0]?.trim();
      }
      const header = name.toLowerCase();
      return (ctx) => ctx.request.header(header);
    }
    case 'limit_by_param': case 'limit_by_per_param':
      return (ctx) => decodedQueryParam(ctx, name);
    case 'limit_by_consumer': case 'limit_by_per_consumer':
      return (ctx) => stringVar(ctx, 'consumer_name');
    default:
      return (ctx) => cookieValue(ctx.request.header('cookie'), name);
  }
}

function stringVar(ctx: PluginContext, name: string): string | undefined {
  const v = ctx.var(name);
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Higress's cookie reading: `name=value` pairs split at `;`, the value up to a further `=`; empty is none. */
function cookieValue(cookie: string | undefined, name: string): string | undefined {
  if (cookie === undefined) return undefined;
  for (const pair of cookie.split(';')) {
    const parts = pair.trim().split('=');
    if (parts[0] === name) return parts[1] === undefined || parts[1] === '' ? undefined : parts[1];
  }
  return undefined;
}

function exactKey(entry: LimitKeyEntry, field: string, unit: LimitUnit): KeyTest {
  const quota = keyQuota(entry, field, unit);
  return { quota, test: (value) => value === entry.key };
}

function patternKey(entry: LimitKeyEntry, field: string, type: RuleItemType, unit: LimitUnit): KeyTest {
  const quota = keyQuota(entry, field, unit);
  if (entry.key === '*') return { quota, test: () => true };
  if (!entry.key.startsWith('regexp:')) throw new Error(`${field}.key: the keys of ${type} are "*" or start with "regexp:"`);
  let re: RE2JS;
  try {
    re = compileRe2(entry.key.slice('regexp:'.length), entry.key);
  } catch (err) {
    throw new Error(`${field}.key: ${(err as Error).message}`);
  }
  return { quota, test: (value) => re.test(value) };
}

function ipKey(entry: LimitKeyEntry, field: string, unit: LimitUnit): KeyTest {
  const quota = keyQuota(entry, field, unit);
  if (!isValidIpOrCidr(entry.key)) throw new Error(`${field}.key: "${entry.key}" is not an IP address or CIDR`);
  const matcher: IpMatcher = compileIpMatcher([entry.key]);
  return { quota, test: matcher };
}

/**
 * The client address in Go's canonical form (net.IP.String(), part of the counter's
 * name): `1.2.3.4:80` and `[v6]:80` lose the port, IPv4-mapped IPv6 is written as IPv4,
 * IPv6 compressed in lower case. Undefined when it is not an address.
 */
export function clientIp(text: string | undefined): string | undefined {
  if (text === undefined || text === '') return undefined;
  let ip = text;
  if (ip.includes('.') && !ip.includes(':::') && /^[\d.]+:\d+$/.test(ip)) ip = ip.slice(0, ip.indexOf(':'));
  else if (ip.startsWith('[')) ip = ip.slice(1, Math.max(1, ip.indexOf(']')));
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped !== null) ip = mapped[1]!;
  if (!isValidIpOrCidr(ip) || ip.includes('/')) return undefined;
  if (!ip.includes(':')) return ip;
  try {
    const host = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
    const v4 = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
    if (v4 === null) return host;
    const hi = parseInt(v4[1]!, 16);
    const lo = parseInt(v4[2]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  } catch {
    return undefined;
  }
}
