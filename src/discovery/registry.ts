import type { DiscoveredNode, ServiceRef } from '../contracts/discovery.js';
import type { Logger } from '../core/logger.js';

// The registry-neutral contract between the primary's discovery service and one registry
// implementation (dns.ts, …). A registry keeps its own connections and timers; it learns
// which services the configuration names through `want` and reports what it finds through
// its context. It never talks to the workers.

/** A service the configuration names, with the key its node set travels under. */
export interface WantedService {
  readonly key: string;
  readonly ref: ServiceRef;
}

export interface RegistryContext {
  /** The service's nodes now (an empty list: the registry says it has none). Unchanged sets are not sent on. */
  publish(key: string, nodes: DiscoveredNode[]): void;
  /**
   * A fetch failed: the registry could not be asked (or answered with an error). The last
   * known nodes keep serving. `key`: the failure concerns that service only.
   */
  failed(err: unknown, key?: string): void;
  /** A fetch succeeded: a registry that was failing is reachable again. */
  succeeded(): void;
  readonly log: Logger;
}

export interface Registry {
  /** The services the configuration names now, after every change (the full set). */
  want(services: readonly WantedService[]): void;
  /** Stops every timer and connection. */
  close(): void;
}

export type RegistryFactory = (ctx: RegistryContext) => Registry;
