import { encodePairs } from './abi/pairs.js';
import type { PluginContext } from '../contracts/plugin.js';
import type { VmHandle } from './vm-handle.js';
import { hostPort } from '../core/host-port.js';

/** What properties read of a stream. */
export interface StreamFacts {
  readonly ctx: PluginContext;
  readonly vm: VmHandle;
  readonly responseStarted: boolean;
}

// Properties as Envoy encodes them (what plugins decode): strings raw, integers and
// timestamps as 8-byte little-endian, booleans as one byte, string maps in the pairs
// encoding. Paths arrive split on NUL; a dotted single segment (`request.path`) is
// accepted too, as Kong does.

const str = (s: unknown): Uint8Array | undefined => (s === undefined || s === null || s === '' ? undefined : Buffer.from(String(s), 'utf8'));

function u64(n: number | bigint): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(BigInt(n));
  return b;
}

function int(v: unknown): Uint8Array | undefined {
  const n = Number(v);
  return v === undefined || v === null || v === '' || !Number.isFinite(n) ? undefined : u64(Math.trunc(n));
}

function addressProperty(addr: unknown, port: unknown): Uint8Array | undefined {
  if (addr === undefined || addr === null || addr === '') return undefined;
  const a = String(addr);
  return str(port === undefined || port === null || port === '' ? a : hostPort(a, String(port)));
}

export function streamProperty(stream: StreamFacts, rawPath: readonly string[]): Uint8Array | undefined {
  const path = rawPath.length === 1 && rawPath[0]!.includes('.') ? rawPath[0]!.split('.') : rawPath;
  const ctx = stream.ctx;
  const v = (name: string): unknown => ctx.var(name);
  const [a, b] = path;
  if (path.length === 1) {
    switch (a) {
      case 'route_name': return str(v('route_name') ?? ctx.routeId);
      case 'cluster_name': return str(stream.vm.opts.services.clusterName?.(ctx));
      default: return undefined;
    }
  }
  if (path.length !== 2) return undefined;
  const req = ctx.request;
  switch (a) {
    case 'request':
      switch (b) {
        case 'path': return str(req.upstreamUri);
        case 'url_path': return str(req.upstreamUri.split('?')[0]);
        case 'host': return str(req.header('host') ?? req.host);
        case 'method': return str(req.method);
        case 'scheme': return str(v('scheme'));
        case 'protocol': return str(v('server_protocol'));
        case 'id': return str(req.header('x-request-id') ?? v('request_id'));
        case 'query': return str(v('query_string')) ?? Buffer.alloc(0);
        case 'referer': return str(req.header('referer'));
        case 'useragent': return str(req.header('user-agent'));
        case 'headers': return encodePairs(Object.entries(req.allHeaders?.() ?? {}).flat());
        case 'time': return u64(BigInt(Math.round((performance.timeOrigin + ctx.startedAt) * 1000)) * 1000n);
        case 'duration': return u64(BigInt(Math.round((performance.now() - ctx.startedAt) * 1e6)));
        case 'size': return int(req.header('content-length') ?? 0);
        default: return undefined;
      }
    case 'response':
      if (!stream.responseStarted) return undefined;
      switch (b) {
        case 'code': return u64(ctx.response.status);
        case 'headers': return encodePairs(Object.entries(ctx.response.allHeaders?.() ?? {}).flat());
        case 'code_details': return str('via_upstream');
        default: return undefined;
      }
    case 'source':
      if (b === 'address') return addressProperty(v('remote_addr'), v('remote_port'));
      if (b === 'port') return int(v('remote_port'));
      return undefined;
    case 'destination':
      if (b === 'address') return addressProperty(v('server_addr'), v('server_port'));
      if (b === 'port') return int(v('server_port'));
      return undefined;
    case 'connection':
      if (b === 'requested_server_name') return str(v('ssl_server_name'));
      if (b === 'mtls') return Uint8Array.of(v('ssl_client_verify') === 'SUCCESS' ? 1 : 0);
      if (b === 'tls_version') return str(v('ssl_protocol'));
      return undefined;
    case 'upstream':
      if (b === 'address') return str(v('upstream_addr'));
      return undefined;
    default:
      return undefined;
  }
}
