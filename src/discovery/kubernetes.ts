import type { KubernetesDiscoveryConfig } from '../contracts/node-config.js';
import { KubernetesCluster } from './kubernetes-watch.js';
import type { Registry, RegistryContext, RegistryFactory, WantedService } from './registry.js';

// The `kubernetes` registry (APISIX's discovery/kubernetes): each configured cluster's
// Endpoints (or EndpointSlices) listed and watched through its API server with a bearer
// token (kubernetes-watch.ts). `service_name` is `namespace/name:port` (the port's name, or
// its number when unnamed); with several clusters, `id/namespace/name:port`. A watch event
// republishes only the services it concerns.

export interface KubernetesServiceName {
  /** '' for the single-cluster form. */
  cluster: string;
  /** `namespace/name`. */
  endpoint: string;
  port: string;
}

/** Splits a `service_name`; undefined when it does not have the form the configuration calls for. */
export function parseKubernetesServiceName(name: string, multi: boolean): KubernetesServiceName | undefined {
  const colon = name.lastIndexOf(':');
  if (colon <= 0 || colon === name.length - 1) return undefined;
  const path = name.slice(0, colon).split('/');
  const port = name.slice(colon + 1);
  if (path.some((p) => p === '') || path.length !== (multi ? 3 : 2)) return undefined;
  return multi ? { cluster: path[0]!, endpoint: `${path[1]!}/${path[2]!}`, port } : { cluster: '', endpoint: `${path[0]!}/${path[1]!}`, port };
}

export function kubernetesRegistry(clusters: KubernetesDiscoveryConfig[]): RegistryFactory {
  return (ctx) => new KubernetesRegistry(clusters, ctx);
}

class KubernetesRegistry implements Registry {
  private readonly clusters = new Map<string, KubernetesCluster>();
  private readonly multi: boolean;
  private wanted: { service: WantedService; name: KubernetesServiceName | undefined }[] = [];
  private readonly warned = new Set<string>();

  constructor(confs: KubernetesDiscoveryConfig[], private readonly ctx: RegistryContext) {
    this.multi = confs.some((c) => c.id !== undefined);
    for (const conf of confs) {
      const id = conf.id ?? '';
      const cluster = new KubernetesCluster(conf, {
        changed: (key) => this.publish(id, key),
        failed: (err) => ctx.failed(this.multi ? new Error(`cluster ${id}: ${(err as Error).message}`) : err),
        succeeded: () => ctx.succeeded(),
      });
      this.clusters.set(id, cluster);
    }
    for (const c of this.clusters.values()) c.start();
  }

  want(services: readonly WantedService[]): void {
    this.wanted = services.map((service) => ({ service, name: parseKubernetesServiceName(service.ref.name, this.multi) }));
    this.publish(undefined, undefined);
  }

  close(): void {
    for (const c of this.clusters.values()) c.close();
  }

  /** The wanted services of `clusterId` (all: undefined) on `endpoint` (all: undefined), from what their cluster listed. */
  private publish(clusterId: string | undefined, endpoint: string | undefined): void {
    for (const { service, name } of this.wanted) {
      if (name === undefined || !this.clusters.has(name.cluster)) {
        this.warnOnce(service);
        this.ctx.publish(service.key, []);
        continue;
      }
      if ((clusterId !== undefined && name.cluster !== clusterId) || (endpoint !== undefined && name.endpoint !== endpoint)) continue;
      const cluster = this.clusters.get(name.cluster)!;
      if (cluster.listed) this.ctx.publish(service.key, cluster.nodes(name.endpoint, name.port));
    }
  }

  private warnOnce(service: WantedService): void {
    if (this.warned.has(service.key)) return;
    this.warned.add(service.key);
    this.ctx.log.warn({ service: service.ref.name, expected: this.multi ? 'id/namespace/name:port' : 'namespace/name:port' },
      'kubernetes service_name names no configured cluster or has not the expected form; its upstreams have no node');
  }
}
