import type { DiscoveredNode, DiscoveredNodesView, ServiceRef } from '../contracts/discovery.js';
import type { Logger } from '../core/logger.js';
import type { NodeSetChange } from './discovery-service.js';
import { serviceKey } from './service-key.js';

type Watcher = (nodes: readonly DiscoveredNode[] | undefined) => void;

/**
 * A worker's copy of the node sets the primary discovered, filled from the `init` message
 * and kept current by its `discovery` messages. Upstream runtimes subscribe to the
 * service they name and get each new set at once, without a snapshot rebuild.
 */
export class DiscoveredNodeTable implements DiscoveredNodesView {
  private readonly sets = new Map<string, readonly DiscoveredNode[]>();
  private readonly watchers = new Map<string, Set<Watcher>>();
  private readonly types: ReadonlySet<string>;

  constructor(enabledTypes: Iterable<string>, private readonly log: Logger) {
    this.types = new Set(enabledTypes);
  }

  enabled(type: string): boolean {
    return this.types.has(type);
  }

  subscribe(ref: ServiceRef, onNodes: Watcher): () => void {
    const key = serviceKey(ref);
    let set = this.watchers.get(key);
    if (set === undefined) this.watchers.set(key, set = new Set());
    set.add(onNodes);
    onNodes(this.sets.get(key));
    return () => {
      set.delete(onNodes);
      if (set.size === 0 && this.watchers.get(key) === set) this.watchers.delete(key);
    };
  }

  /**
   * A service no longer named (`null`) is forgotten without telling its subscribers: they
   * belong to upstreams the next snapshot drops, and keep serving their last nodes until then.
   */
  apply(changes: readonly NodeSetChange[]): void {
    for (const [key, nodes] of changes) {
      if (nodes === null) {
        this.sets.delete(key);
        continue;
      }
      this.sets.set(key, nodes);
      for (const watcher of this.watchers.get(key) ?? []) {
        try {
          watcher(nodes);
        } catch (err) {
          this.log.error({ err, service: key }, 'applying discovered nodes failed');
        }
      }
    }
  }
}
