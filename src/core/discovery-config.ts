// `discovery:` in config.yaml, as APISIX's: one key per registry the node watches
// (docs/discovery.md). Only the registries Gatehouse implements are accepted, so a
// registry that would do nothing is an error at start rather than a silent 503 later.
import path from 'node:path';
import { isIP } from 'node:net';
import type { DiscoveryConfig } from '../contracts/node-config.js';

type Obj = Record<string, unknown>;

const DNS_RECORD_ORDER = ['last', 'SRV', 'A', 'AAAA', 'CNAME'];

export const DISCOVERY_SCHEMA: Obj = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    dns: {
      type: 'object',
      additionalProperties: false,
      properties: {
        servers: {
          type: 'array', minItems: 1, items: { type: 'string', minLength: 1 },
          'x-message': 'must be a non-empty list of "ip:port" DNS servers',
        },
        resolv_conf: { type: 'string', minLength: 1, 'x-message': 'must be the path of a resolv.conf file' },
        order: {
          type: 'array', minItems: 1, maxItems: 5, uniqueItems: true, items: { enum: DNS_RECORD_ORDER },
          default: DNS_RECORD_ORDER,
          'x-message': 'must be a list of distinct record types among last, SRV, A, AAAA, CNAME',
        },
      },
    },
  },
};

/**
 * The checks between fields and the paths made absolute (relative to the config file's
 * folder `dir`). Throws an Error naming the key.
 */
export function resolveDiscovery(raw: Obj, dir: string): DiscoveryConfig {
  const dns = raw.dns as { servers?: string[]; resolv_conf?: string; order: string[] } | undefined;
  if (dns !== undefined) {
    if ((dns.servers === undefined) === (dns.resolv_conf === undefined)) {
      throw new Error('discovery.dns: set exactly one of servers and resolv_conf');
    }
    dns.servers?.forEach((s, i) => {
      if (!isServerAddress(s)) throw new Error(`discovery.dns.servers[${i}]: "${s}" is not an IP address with an optional port ("127.0.0.1:53", "[::1]:53")`);
    });
    if (dns.resolv_conf !== undefined) dns.resolv_conf = path.resolve(dir, dns.resolv_conf);
    if (dns.order.length === 1 && dns.order[0] === 'last') throw new Error('discovery.dns.order: must name a record type besides last');
  }
  return raw as DiscoveryConfig;
}

/** `ip`, `ip:port` or `[v6]:port`: what dns.Resolver#setServers takes. */
export function isServerAddress(s: string): boolean {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(s);
  if (bracketed !== null) return isIP(bracketed[1]!) === 6 && portOk(bracketed[2]);
  if (isIP(s) !== 0) return true;
  const colon = s.lastIndexOf(':');
  return colon > 0 && isIP(s.slice(0, colon)) === 4 && portOk(s.slice(colon + 1));
}

function portOk(p: string | undefined): boolean {
  if (p === undefined) return true;
  const n = Number(p);
  return /^\d{1,5}$/.test(p) && n >= 1 && n <= 65535;
}
