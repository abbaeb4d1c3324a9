// Service discovery (docs/discovery.md): the primary's DiscoveryService runs the registries
// the node config enables; workers hold a DiscoveredNodeTable fed over IPC.
import type { DiscoveryConfig } from '../contracts/node-config.js';
import type { Logger } from '../core/logger.js';
import { DiscoveryService } from './discovery-service.js';
import { consulRegistry } from './consul.js';
import { dnsRegistry } from './dns.js';
import { eurekaRegistry } from './eureka.js';
import { kubernetesRegistry } from './kubernetes.js';
import { nacosRegistry } from './nacos.js';
import type { RegistryFactory } from './registry.js';

export { DiscoveryService, type NodeSetChange } from './discovery-service.js';
export { DiscoveredNodeTable } from './node-table.js';
export { wantedServices } from './wanted-services.js';

/** One factory per registry the node config enables; throws (naming the key) when one cannot be set up. */
export function registryFactories(config: DiscoveryConfig): Map<string, RegistryFactory> {
  const out = new Map<string, RegistryFactory>();
  if (config.dns !== undefined) out.set('dns', dnsRegistry(config.dns));
  if (config.consul !== undefined) out.set('consul', consulRegistry(config.consul));
  if (config.nacos !== undefined) out.set('nacos', nacosRegistry(config.nacos));
  if (config.kubernetes !== undefined) out.set('kubernetes', kubernetesRegistry(config.kubernetes));
  if (config.eureka !== undefined) out.set('eureka', eurekaRegistry(config.eureka));
  return out;
}

export function createDiscoveryService(config: DiscoveryConfig, log: Logger): DiscoveryService {
  return new DiscoveryService(registryFactories(config), { log });
}
