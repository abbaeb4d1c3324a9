/**
 * A gateway node as the cluster's node directory keeps it (on etcd: APISIX's
 * `<prefix>/data_plane/server_info/<id>`, under a lease that ends with the node).
 */
export interface NodeRecord {
  id: string;
  hostname: string;
  version: string;
  /** The store type the node runs on. */
  store: string;
  /** The newest configuration revision every worker of the node has applied. */
  applied_revision: number;
  boot_time: string;
  updated_at: string;
}

/** Where nodes register themselves; the etcd store has one, the embedded stores none. */
export interface NodeDirectory {
  /**
   * Registers the node under a lease of `ttlSeconds` kept alive until unregister; `onLost`
   * is called when the lease is lost (it expired while the store was unreachable).
   */
  register(record: NodeRecord, ttlSeconds: number, onLost: () => void): Promise<void>;
  /** Updates the registered record (same lease). */
  report(record: NodeRecord): Promise<void>;
  list(): Promise<NodeRecord[]>;
  unregister(id: string): Promise<void>;
}
