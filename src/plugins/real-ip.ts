// real-ip: replaces the client address (`remote_addr`, and `remote_port` when the
// source carries one) with one taken from a request variable, e.g. `http_x_real_ip`,
// `arg_realip` or `http_x_forwarded_for` (APISIX real-ip). With `trusted_addresses`
// only requests from those peers are rewritten; with `recursive` the right-most
// untrusted address of X-Forwarded-For is used (nginx `real_ip_recursive`). Runs in
// rewrite, before the access-phase plugins that read `remote_addr` (ip-restriction).
import { isIP } from 'node:net';
import type { PluginContext } from '../contracts/plugin.js';
import { compileIpMatcher, type IpMatcher } from '../core/ip-matcher.js';
import { checkVariables } from '../core/expr/index.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';

export interface RealIpConf {
  source: string;
  trusted_addresses?: string[];
  recursive: boolean;
}

interface RealIpPrepared {
  source: string;
  forwardedFor: boolean;
  trusted: IpMatcher | undefined;
  recursive: boolean;
}

/** `ip`, `ip:port`, `[v6]` or `[v6]:port` → [ip, port?]; undefined when not an address. */
export function parseAddress(addr: string): [string, number | undefined] | undefined {
  let ip = addr.trim();
  let portText: string | undefined;
  if (ip.startsWith('[')) {
    const close = ip.indexOf(']');
    if (close < 0) return undefined;
    const rest = ip.slice(close + 1);
    ip = ip.slice(1, close);
    if (rest !== '') {
      if (!rest.startsWith(':')) return undefined;
      portText = rest.slice(1);
    }
    if (isIP(ip) !== 6) return undefined;
  } else {
    const colon = ip.indexOf(':');
    // One colon: IPv4 with a port; more: a bare IPv6 address.
    if (colon >= 0 && ip.indexOf(':', colon + 1) < 0) {
      portText = ip.slice(colon + 1);
      ip = ip.slice(0, colon);
    }
    if (isIP(ip) === 0) return undefined;
  }
  if (portText === undefined) return [ip, undefined];
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port < 1 || port > 65535) return undefined;
  return [ip, port];
}

function fromForwardedFor(p: RealIpPrepared, value: string): string {
  const comma = value.lastIndexOf(',');
  if (comma < 0) return value;
  if (p.recursive && p.trusted !== undefined) {
    const hops = value.split(',').map((s) => s.trim());
    for (let i = hops.length - 1; i >= 1; i--) {
      if (!p.trusted(hops[i]!)) return hops[i]!;
    }
    return hops[0]!;
  }
  return value.slice(comma + 1).trim();
}

function sourceAddress(p: RealIpPrepared, ctx: PluginContext): string | undefined {
  if (p.forwardedFor) {
    const xff = ctx.request.header('x-forwarded-for');
    return xff === undefined ? undefined : fromForwardedFor(p, xff);
  }
  const v = ctx.var(p.source);
  return typeof v === 'string' ? v : undefined;
}

export default definePlugin<RealIpConf, RealIpPrepared>({
  name: 'real-ip',
  description: 'Sets the real client IP address from a header or query argument, for use behind proxies.',
  version: '0.1',
  stage: 'authorization',
  priority: 980,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      trusted_addresses: { type: 'array', items: { type: 'string' }, minItems: 1 },
      source: { type: 'string', minLength: 1 },
      recursive: { type: 'boolean', default: false },
    },
    required: ['source'],
  },

  prepare(conf) {
    checkVariables([conf.source], 'source');
    // APISIX accepts these and ignores them; a setting without effect is refused here.
    if (conf.recursive === true && conf.source !== 'http_x_forwarded_for') {
      throw new Error('recursive only applies to source http_x_forwarded_for');
    }
    if (conf.recursive === true && conf.trusted_addresses === undefined) {
      throw new Error('recursive needs trusted_addresses: the proxies whose X-Forwarded-For entries are skipped');
    }
    return {
      source: conf.source,
      forwardedFor: conf.source === 'http_x_forwarded_for',
      // throws `invalid ip address: X`, APISIX's message
      trusted: conf.trusted_addresses !== undefined ? compileIpMatcher(conf.trusted_addresses) : undefined,
      recursive: conf.recursive === true,
    };
  },

  rewrite(p, ctx) {
    if (p.trusted !== undefined) {
      const peer = ctx.var('remote_addr');
      if (!p.trusted(typeof peer === 'string' ? peer : ctx.request.remoteAddr)) return undefined;
    }
    const addr = sourceAddress(p, ctx);
    if (addr === undefined) {
      ctx.log.warn('missing real address');
      return undefined;
    }
    const parsed = parseAddress(addr);
    if (parsed === undefined) {
      ctx.log.warn(`bad address: ${addr}`);
      return undefined;
    }
    const [ip, port] = parsed;
    const original = ctx.var('remote_addr');
    ctx.setVar('remote_addr', ip);
    if (port !== undefined) ctx.setVar('remote_port', port);
    // nginx realip keeps the peer's address here (the first rewrite's, if two instances run).
    if (original !== undefined && ctx.var('realip_remote_addr') === undefined) ctx.setVar('realip_remote_addr', original);
    return undefined;
  },
});
