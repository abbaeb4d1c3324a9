import { deadline } from '../core/deadline.js';
import { request } from 'undici';
import type { PluginContext } from '../contracts/plugin.js';
import type { Route, Service, Upstream, UpstreamNode } from '../contracts/resources.js';
import type { ConfigView } from '../contracts/store.js';
import { Status } from './abi/constants.js';
import type { CallResponse, HttpCallRequest } from './abi/host.js';
import { urlHost } from '../core/host-port.js';

// proxy_http_call names an Envoy cluster, not a URL. Gatehouse's clusters are its
// upstreams: a plugin may call an upstream by id or name, by the Istio-style name
// `outbound|<port>||<upstream>` (what Higress plugins build), or by the current
// request's own `cluster_name`. Nothing else: a plugin cannot reach an address the
// configuration does not name.

const MAX_CALL_BODY = 4 * 1024 * 1024;

interface Cluster {
  readonly key: string;
  readonly upstream: Upstream;
}

function nodesOf(u: Upstream): UpstreamNode[] {
  const n = u.nodes as unknown;
  if (Array.isArray(n)) return n as UpstreamNode[];
  if (n !== null && typeof n === 'object') {
    return Object.entries(n as Record<string, number>).map(([hp, weight]) => {
      const i = hp.lastIndexOf(':');
      return { host: i < 0 ? hp : hp.slice(0, i), port: i < 0 ? 80 : Number(hp.slice(i + 1)), weight };
    });
  }
  return [];
}

export class ConfigClusters {
  private rr = 0;

  constructor(private readonly view: () => ConfigView | undefined) {}

  /** The request's upstream, keyed as its cluster name reads (`route-<id>` for an inline upstream). */
  private routeCluster(ctx: PluginContext): Cluster | undefined {
    const v = this.view();
    if (v === undefined || ctx.routeId === undefined) return undefined;
    const route = v.get('routes', ctx.routeId)?.value as Route | undefined;
    if (route === undefined) return undefined;
    if (route.upstream !== undefined) return { key: `route-${ctx.routeId}`, upstream: route.upstream as Upstream };
    const upstreamId = route.upstream_id ?? (route.service_id !== undefined
      ? (v.get('services', String(route.service_id))?.value as Service | undefined)?.upstream_id : undefined);
    if (upstreamId === undefined) {
      const svc = route.service_id !== undefined ? v.get('services', String(route.service_id))?.value as Service | undefined : undefined;
      return svc?.upstream !== undefined ? { key: `service-${String(route.service_id)}`, upstream: svc.upstream as Upstream } : undefined;
    }
    const u = v.get('upstreams', String(upstreamId))?.value as Upstream | undefined;
    return u === undefined ? undefined : { key: String(upstreamId), upstream: u };
  }

  clusterName(ctx: PluginContext): string | undefined {
    const c = this.routeCluster(ctx);
    if (c === undefined) return undefined;
    const port = nodesOf(c.upstream)[0]?.port ?? (c.upstream.scheme === 'https' ? 443 : 80);
    return `outbound|${port}||${c.key}`;
  }

  private find(name: string, ctx: PluginContext | undefined): Cluster | undefined {
    if (ctx !== undefined) {
      const own = this.routeCluster(ctx);
      if (own !== undefined && (name === this.clusterName(ctx) || name === own.key)) return own;
    }
    const v = this.view();
    if (v === undefined) return undefined;
    const parts = name.split('|');
    const key = parts.length === 4 ? parts[3]! : name;
    const byId = v.get('upstreams', key)?.value as Upstream | undefined;
    if (byId !== undefined) return { key, upstream: byId };
    for (const o of v.list('upstreams')) {
      if ((o.value as Upstream).name === key) return { key: o.id, upstream: o.value as Upstream };
    }
    return undefined;
  }

  /** Starts an http_call; a Status when the cluster is unknown or the headers lack a pseudo-header. */
  call(req: HttpCallRequest, ctx: PluginContext | undefined): Promise<CallResponse> | number {
    const cluster = this.find(req.cluster, ctx);
    if (cluster === undefined) return Status.BAD_ARGUMENT;
    const pseudo: Record<string, string> = {};
    const headers: string[] = [];
    for (let i = 0; i < req.headers.length; i += 2) {
      const k = req.headers[i]!;
      if (k.startsWith(':')) pseudo[k] = req.headers[i + 1]!;
      else headers.push(k, req.headers[i + 1]!);
    }
    if (pseudo[':method'] === undefined || pseudo[':path'] === undefined || pseudo[':authority'] === undefined) return Status.BAD_ARGUMENT;
    const nodes = nodesOf(cluster.upstream).filter((n) => n.weight > 0);
    if (nodes.length === 0) return Status.INTERNAL_FAILURE;
    const node = nodes[this.rr++ % nodes.length]!;
    const scheme = cluster.upstream.scheme === 'https' ? 'https' : 'http';
    const host = urlHost(node.host);
    headers.push('host', pseudo[':authority']);
    const timeout = req.timeoutMs > 0 ? req.timeoutMs : 5000;
    const limit = deadline(timeout);
    return request(`${scheme}://${host}:${node.port}${pseudo[':path']}`, {
      method: pseudo[':method'] as 'GET',
      headers,
      body: req.body.length > 0 ? req.body : undefined,
      headersTimeout: timeout,
      bodyTimeout: timeout,
      signal: limit.signal,
    }).then(async (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of res.body) {
        size += (c as Buffer).length;
        if (size > MAX_CALL_BODY) throw new Error(`http_call response larger than ${MAX_CALL_BODY} bytes`);
        chunks.push(c as Buffer);
      }
      const flat = [':status', String(res.statusCode)];
      for (const [k, v] of Object.entries(res.headers)) {
        if (Array.isArray(v)) for (const x of v) flat.push(k, x);
        else if (v !== undefined) flat.push(k, v);
      }
      return { headers: flat, body: Buffer.concat(chunks), trailers: [], status: res.statusCode };
    }).finally(() => limit.clear());
  }
}
