// Service discovery as the data plane sees it: upstreams that name a `service_name` and a
// `discovery_type` get their nodes from a registry watched by the primary (src/discovery/),
// which sends the node sets to the workers. A worker reads them through this view.

/** The registries the node config may enable (APISIX's `discovery:` keys). */
export type DiscoveryType = 'dns' | 'consul' | 'nacos' | 'kubernetes' | 'eureka';

/** APISIX's `discovery_args`: used by nacos (namespace and group); other registries ignore them. */
export interface DiscoveryArgs {
  namespace_id?: string;
  group_name?: string;
}

/** One node a registry reported (APISIX's `discovery_nodes` schema). No port: the upstream scheme's default. */
export interface DiscoveredNode {
  host: string;
  port?: number;
  weight: number;
  priority?: number;
  metadata?: Record<string, unknown>;
}

/** What an upstream asks a registry for. */
export interface ServiceRef {
  type: string;
  name: string;
  args?: DiscoveryArgs;
}

/**
 * A worker's copy of the node sets the primary discovered. `subscribe` calls `onNodes` at
 * once with what is known (undefined: no answer yet) and again after each change; the
 * returned function unsubscribes.
 */
export interface DiscoveredNodesView {
  /** Whether the node config enables this registry type. */
  enabled(type: string): boolean;
  subscribe(ref: ServiceRef, onNodes: (nodes: readonly DiscoveredNode[] | undefined) => void): () => void;
}

/** One registry's state as `GET /status/discovery` shows it. */
export interface RegistryStatus {
  /** False from a failed fetch until the next one that succeeds; the last known nodes keep serving meanwhile. */
  reachable: boolean;
  /** When `reachable` last changed (ISO time); absent until the first answer. */
  since?: string;
  last_error?: string;
  /** Failed fetches since the start (also `gatehouse_discovery_errors_total{type}`). */
  errors: number;
  /** Per service the upstreams name (nacos: `namespace/group/name`): its nodes (null: no answer yet) and when they last changed. */
  services: Record<string, { nodes: DiscoveredNode[] | null; updated_at?: string; error?: string }>;
}

export type DiscoveryStatus = Record<string, RegistryStatus>;
