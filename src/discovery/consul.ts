import type { DiscoveredNode } from '../contracts/discovery.js';
import type { ConsulDiscoveryConfig } from '../contracts/node-config.js';
import type { RegistryContext, RegistryFactory, WantedService } from './registry.js';
import { Backoff, parseJson, pause, RegistryHttp, where } from './registry-http.js';
import { ServiceLoops } from './service-loops.js';

// The `consul` registry (APISIX's discovery/consul): a service's nodes are its instances
// whose health checks pass, from Consul's health API (`/v1/health/service/<name>?passing=true`),
// each server asked on its own and their answers merged. With `keepalive` (the default)
// each ask is a blocking query: `index` is the `X-Consul-Index` of the previous answer and
// Consul holds the request up to `timeout.wait` seconds until something changes, so a
// change is seen at once; without it the service is polled every `fetch_interval`.
// APISIX watches the whole catalog and fetches every service in it; asking only for the
// services the configuration names gives the same nodes with fewer requests.

/** A blocking query that comes back this fast with an unchanged index is not asked again before this (Consul's advice against hot loops). */
const MIN_BLOCKING_INTERVAL_MS = 1_000;

interface ConsulEntry {
  Node?: { Address?: string };
  Service?: { Address?: string; Port?: number; Meta?: Record<string, string> | null };
}

export function consulRegistry(conf: ConsulDiscoveryConfig): RegistryFactory {
  return (ctx) => {
    const http = new RegistryHttp({ connectTimeoutMs: conf.timeout.connect, readTimeoutMs: conf.timeout.read });
    const skipped = new Set(['consul', ...(conf.skip_services ?? [])]);
    const loops = new ServiceLoops((service, signal) => watchService(conf, http, ctx, service, signal), ctx.log);
    return {
      want(services) {
        for (const s of services) if (skipped.has(s.ref.name)) ctx.publish(s.key, withDefault(conf, []));
        loops.want(services.filter((s) => !skipped.has(s.ref.name)));
      },
      close() {
        loops.close();
        http.close();
      },
    };
  };
}

/** The service as every server reports it, merged; published after each answer. */
async function watchService(conf: ConsulDiscoveryConfig, http: RegistryHttp, ctx: RegistryContext,
  service: WantedService, signal: AbortSignal): Promise<void> {
  const perServer: (DiscoveredNode[] | undefined)[] = conf.servers.map(() => undefined);
  const publish = (): void => {
    const seen = new Set<string>();
    const merged: DiscoveredNode[] = [];
    for (const nodes of perServer) {
      for (const n of nodes ?? []) {
        const id = `${n.host}:${n.port}`;
        if (!seen.has(id)) merged.push(n);
        seen.add(id);
      }
    }
    ctx.publish(service.key, withDefault(conf, sortNodes(merged, conf.sort_type)));
  };
  await Promise.all(conf.servers.map((server, i) => watchServer(conf, http, ctx, server, service, signal, (nodes) => {
    perServer[i] = nodes;
    publish();
  })));
}

async function watchServer(conf: ConsulDiscoveryConfig, http: RegistryHttp, ctx: RegistryContext, server: string,
  service: WantedService, signal: AbortSignal, onNodes: (nodes: DiscoveredNode[]) => void): Promise<void> {
  const base = `${server}/v1/health/service/${encodeURIComponent(service.ref.name)}?passing=true`;
  const headers: Record<string, string> = conf.token !== '' ? { 'x-consul-token': conf.token } : {};
  const waitMs = conf.timeout.wait * 1000;
  const backoff = new Backoff();
  let index = 0;
  while (!signal.aborted) {
    const url = conf.keepalive ? `${base}&index=${index}&wait=${conf.timeout.wait}s` : base;
    const started = Date.now();
    try {
      // Consul adds up to wait/16 of jitter to a blocking query's wait
      const reply = await http.fetch(url, { headers, signal, ...(conf.keepalive ? { readTimeoutMs: waitMs + waitMs / 16 + conf.timeout.read } : {}) });
      if (reply.status !== 200) throw new Error(`${where(url)}: answer ${reply.status}${reply.text !== '' ? ` ${reply.text.slice(0, 200)}` : ''}`);
      const entries = parseJson(url, reply);
      if (!Array.isArray(entries)) throw new Error(`${where(url)}: answer is not a list of service entries`);
      onNodes(nodesOf(entries as ConsulEntry[], conf.weight));
      ctx.succeeded();
      backoff.reset();
      if (!conf.keepalive) {
        await pause(conf.fetch_interval * 1000, signal);
        continue;
      }
      const next = Number(reply.headers['x-consul-index']);
      const unchanged = next === index;
      // an index that is missing, 0 or went backwards (a restored or replaced server) starts over, as Consul's docs ask
      index = Number.isInteger(next) && next > 0 && next >= index ? next : 0;
      if (unchanged && Date.now() - started < MIN_BLOCKING_INTERVAL_MS) await pause(MIN_BLOCKING_INTERVAL_MS, signal);
    } catch (err) {
      if (signal.aborted) return;
      ctx.failed(err, service.key);
      await pause(backoff.next(), signal);
    }
  }
}

/** An instance's address is its service address, or its node's when that is empty (Consul's rule); port 0 means 80, as APISIX. */
function nodesOf(entries: readonly ConsulEntry[], weight: number): DiscoveredNode[] {
  const out: DiscoveredNode[] = [];
  const seen = new Set<string>();
  for (const e of entries) {
    if (e.Service === undefined) continue;
    const host = e.Service.Address !== undefined && e.Service.Address !== '' ? e.Service.Address : e.Node?.Address;
    if (host === undefined || host === '') continue;
    const port = e.Service.Port !== undefined && e.Service.Port > 0 ? e.Service.Port : 80;
    const id = `${host}:${port}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const meta = e.Service.Meta;
    out.push({ host, port, weight, ...(meta !== null && meta !== undefined && Object.keys(meta).length > 0 ? { metadata: meta } : {}) });
  }
  return out;
}

function withDefault(conf: ConsulDiscoveryConfig, nodes: DiscoveredNode[]): DiscoveredNode[] {
  const d = conf.default_service;
  if (nodes.length > 0 || d === undefined) return nodes;
  return [{ host: d.host, port: d.port, weight: conf.weight, ...(d.metadata !== undefined ? { metadata: d.metadata } : {}) }];
}

function sortNodes(nodes: DiscoveredNode[], sortType: ConsulDiscoveryConfig['sort_type']): DiscoveredNode[] {
  const byHost = (a: DiscoveredNode, b: DiscoveredNode): number => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0);
  const byPort = (a: DiscoveredNode, b: DiscoveredNode): number => (a.port ?? 0) - (b.port ?? 0);
  switch (sortType) {
    case 'host_sort': return nodes.sort(byHost);
    case 'port_sort': return nodes.sort(byPort);
    case 'combine_sort': return nodes.sort((a, b) => byHost(a, b) || byPort(a, b));
    default: return nodes;
  }
}
