// What the primary does differently when its store is shared by many nodes (etcd):
//   - it keeps the last good configuration in data_dir and starts from it when the store
//     is unreachable (saying so), instead of refusing to start;
//   - it copies the binaries of custom plugins into data_dir before its workers hear of
//     them (src/config-store/blob-file-cache.ts), so a publish on one node runs on every node;
//   - it tracks whether the store is reachable: readiness and the metric
//     `gatehouse_etcd_reachable` show it, and Admin writes are refused (503) meanwhile;
//   - it registers the node and reports what its workers applied (membership.ts).
// On the embedded stores (sqlite, standalone) only the membership remains: a cluster of one.
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { NodeConfig } from '../contracts/node-config.js';
import type { ConfigStore, StoreEvent, StoreState, StoredObject } from '../contracts/store.js';
import type { NodeDirectory } from '../contracts/cluster.js';
import type { ConfigState } from '../config-store/state.js';
import { blobCacheDir } from '../config-store/blob-reader.js';
import { VERSION } from '../core/version.js';
import { BlobFileCache } from '../config-store/blob-file-cache.js';
import { LocalSnapshot } from './local-snapshot.js';
import { Membership, nodeIdOf, type ClusterNodeView } from './membership.js';

/** A store shared by several nodes: it can be unreachable, and keeps a node directory. */
export interface SharedStore extends ConfigStore {
  reachable(): boolean;
  onReachability(listener: (up: boolean, detail?: string) => void): void;
  readonly nodes: NodeDirectory;
  /** Where it is, for messages and to tell one cluster's snapshot from another's. */
  describe(): string;
}

export function isSharedStore(store: ConfigStore): store is SharedStore {
  const s = store as Partial<SharedStore>;
  return typeof s.reachable === 'function' && typeof s.onReachability === 'function' && s.nodes !== undefined;
}

/** How the store looks from this node, for readiness. */
export interface StoreReachability {
  reachable: boolean;
  /** Since when (ISO time) it has been unreachable. */
  since?: string;
  detail?: string;
  /** The node serves a snapshot it could not check against the store (started while the store was down). */
  fromLocalSnapshot: boolean;
}

const NODE_TTL_SECONDS = 30;

export class ClusterMode {
  readonly membership: Membership;
  private readonly snapshot: LocalSnapshot | undefined;
  private readonly blobs: BlobFileCache | undefined;
  private readonly shared: SharedStore | undefined;
  private downSince: Date | undefined;
  private downDetail: string | undefined;
  private fromLocalSnapshot = false;
  private readonly reachabilityListeners: ((up: boolean) => void)[] = [];

  constructor(private readonly config: NodeConfig, private readonly store: ConfigStore, private readonly log: Logger) {
    this.shared = isSharedStore(store) ? store : undefined;
    if (this.shared !== undefined) {
      this.snapshot = new LocalSnapshot(join(config.data_dir, 'config-snapshot.json'), this.shared.describe(), 200,
        (err) => log.error({ err: err.message }, 'the local configuration snapshot could not be written'));
      this.blobs = new BlobFileCache(blobCacheDir(config));
      this.shared.onReachability((up, detail) => this.reachabilityChanged(up, detail));
      if (!this.shared.reachable()) this.reachabilityChanged(false, 'not connected yet');
    }
    this.membership = new Membership({
      id: nodeIdOf(config.data_dir), version: VERSION, store: config.store.type,
      directory: this.shared?.nodes, ttlSeconds: NODE_TTL_SECONDS, log,
    });
  }

  /**
   * The configuration to start from: the store's, or — when a shared store cannot be
   * reached — the last good snapshot in data_dir (logged loudly). With neither, the
   * store's error, naming where it was looked for.
   */
  async initialState(): Promise<StoreState> {
    let state: StoreState;
    try {
      state = await this.store.load();
    } catch (err) {
      const kept = this.snapshot?.load();
      if (kept === undefined) throw err;
      this.fromLocalSnapshot = true;
      this.log.error({ err: (err as Error).message, snapshot: this.snapshot!.file, revision: kept.state.revision, saved_at: kept.savedAt },
        'the configuration store is unreachable: serving the last good snapshot kept in data_dir until it is back');
      return kept.state;
    }
    await this.cacheBinaries(state.objects);
    this.snapshot?.save(() => state);
    return state;
  }

  /** The store answered again after a start from the local snapshot: what is served now was checked against it. */
  resynced(): void {
    this.fromLocalSnapshot = false;
  }

  get startedFromLocalSnapshot(): boolean {
    return this.fromLocalSnapshot;
  }

  /**
   * Before the workers hear of `events`: the binaries they name are in data_dir. A
   * binary that cannot be fetched is logged; the plugin then fails to load on the
   * workers (as any plugin whose module is missing) and the rest applies.
   */
  prepare(events: readonly StoreEvent[]): Promise<void> | undefined {
    if (this.blobs === undefined) return undefined;
    const objects: StoredObject[] = [];
    for (const ev of events) {
      if (ev.type === 'reset') objects.push(...ev.state.objects);
      else if (ev.type === 'put' && ev.object.kind === 'custom_plugins') objects.push(ev.object);
    }
    return objects.length === 0 ? undefined : this.cacheBinaries(objects);
  }

  /** The state after `events` applied: saved as the last good snapshot. */
  applied(state: ConfigState): void {
    this.snapshot?.save(() => state.toStoreState());
  }

  /** Every worker applied `revision`. */
  workersApplied(revision: number): void {
    this.membership.applied(revision);
  }

  reachability(): StoreReachability | undefined {
    if (this.shared === undefined) return undefined;
    return {
      reachable: this.downSince === undefined,
      ...(this.downSince !== undefined ? { since: this.downSince.toISOString(), detail: this.downDetail } : {}),
      fromLocalSnapshot: this.fromLocalSnapshot,
    };
  }

  onReachability(listener: (up: boolean) => void): void {
    this.reachabilityListeners.push(listener);
  }

  nodes(knownRevision: number): Promise<ClusterNodeView[]> {
    return this.membership.nodes(knownRevision);
  }

  start(): void {
    this.membership.start();
  }

  async close(): Promise<void> {
    this.snapshot?.flush();
    await this.membership.close();
  }

  private reachabilityChanged(up: boolean, detail?: string): void {
    const wasUp = this.downSince === undefined;
    if (up === wasUp) return;
    if (up) {
      this.log.warn({ store: this.shared!.describe(), down_for_ms: Date.now() - this.downSince!.getTime() }, 'the configuration store is reachable again');
      this.downSince = undefined;
      this.downDetail = undefined;
    } else {
      this.downSince = new Date();
      this.downDetail = detail;
      this.log.error({ store: this.shared!.describe(), detail }, 'the configuration store is unreachable: serving the last configuration applied; Admin writes are refused until it is back');
    }
    for (const l of this.reachabilityListeners) l(up);
  }

  private async cacheBinaries(objects: readonly StoredObject[]): Promise<void> {
    const blobs = this.blobs;
    const source = this.store.blobs;
    if (blobs === undefined || source === undefined) return;
    for (const o of objects) {
      if (o.kind !== 'custom_plugins') continue;
      const p = o.value as { enabled?: boolean; version?: string; versions?: { version: string; sha256: string }[] };
      const sha = p.versions?.find((v) => v.version === p.version)?.sha256;
      if (p.enabled !== true || sha === undefined) continue;
      try {
        await blobs.ensure(sha, () => source.getBlob(sha));
      } catch (err) {
        this.log.error({ plugin: o.id, sha256: sha, err: (err as Error).message }, 'the binary of a custom plugin could not be copied to this node; it does not run here');
      }
    }
  }
}
