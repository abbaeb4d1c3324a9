// `stream_proxy` in config.yaml: the TCP and UDP listeners stream routes are served on,
// shaped as APISIX's `apisix.stream_proxy` (accepted at the top level, as Gatehouse's
// config.yaml has no `apisix:` section). Entries are a port (`9100`, bound on 0.0.0.0),
// `"ip:port"`, or `{addr, tls}`; `tls: true` (TCP only) terminates TLS with the ssl
// objects picked by SNI. The timeouts and the UDP session bound are Gatehouse's.
import { isIP } from 'node:net';
import type { StreamListenConfig, StreamProxyConfig } from '../contracts/node-config.js';

type Obj = Record<string, unknown>;

const ADDR_PATTERN = '^(\\[[0-9a-fA-F:.]+\\]|[0-9.]+):[0-9]{1,5}$';
const portOrAddr = [
  { type: 'integer', minimum: 0, maximum: 65535 },
  { type: 'string', pattern: ADDR_PATTERN, 'x-message': 'must be a port or an "ip:port" string' },
];

const seconds = (def: number): Obj => ({
  type: 'number', exclusiveMinimum: 0, default: def, 'x-message': 'must be a number of seconds > 0',
});

export const STREAM_PROXY_SCHEMA: Obj = {
  type: 'object',
  additionalProperties: false,
  properties: {
    tcp: {
      type: 'array',
      minItems: 1,
      items: {
        anyOf: [
          ...portOrAddr,
          {
            type: 'object',
            properties: { addr: { anyOf: portOrAddr }, tls: { type: 'boolean' } },
            required: ['addr'],
            additionalProperties: false,
          },
        ],
      },
      'x-message': 'must be a non-empty list of ports, "ip:port" strings or {addr, tls}',
    },
    udp: {
      type: 'array',
      minItems: 1,
      items: { anyOf: portOrAddr },
      'x-message': 'must be a non-empty list of ports or "ip:port" strings',
    },
    // nginx's proxy_timeout (10m): a TCP connection with no byte either way for this long is closed
    idle_timeout: seconds(600),
    // a UDP session (one client address) with no datagram either way for this long is forgotten
    udp_idle_timeout: seconds(60),
    udp_max_sessions: { type: 'integer', minimum: 1, default: 10000, 'x-message': 'must be an integer >= 1' },
  },
};

function listenOf(entry: unknown, tls: boolean, where: string): StreamListenConfig {
  if (typeof entry === 'number') return { host: '0.0.0.0', port: entry, tls };
  const addr = String(entry);
  const colon = addr.lastIndexOf(':');
  const host = addr.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = Number(addr.slice(colon + 1));
  if (isIP(host) === 0) throw new Error(`${where}: "${addr}" is not an IP address and port`);
  if (port > 65535) throw new Error(`${where}: port ${port} is above 65535`);
  return { host, port, tls };
}

/** The checked `stream_proxy` section (after the schema) as listeners; undefined when absent. */
export function resolveStreamProxy(raw: Obj | undefined): StreamProxyConfig | undefined {
  if (raw === undefined) return undefined;
  const tcp = ((raw.tcp as unknown[] | undefined) ?? []).map((e, i) => {
    const where = `stream_proxy.tcp[${i}]`;
    if (e !== null && typeof e === 'object') {
      const o = e as { addr: unknown; tls?: boolean };
      return listenOf(o.addr, o.tls === true, where);
    }
    return listenOf(e, false, where);
  });
  const udp = ((raw.udp as unknown[] | undefined) ?? []).map((e, i) => listenOf(e, false, `stream_proxy.udp[${i}]`));
  if (tcp.length === 0 && udp.length === 0) throw new Error('stream_proxy: needs at least one tcp or udp listener');
  return {
    tcp,
    udp,
    idle_timeout: raw.idle_timeout as number,
    udp_idle_timeout: raw.udp_idle_timeout as number,
    udp_max_sessions: raw.udp_max_sessions as number,
  };
}
