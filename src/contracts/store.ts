import type { ResourceKind } from './resources.js';

/**
 * One stored object. `createdIndex`/`modifiedIndex` are store revisions (APISIX's v3
 * envelope names). Credentials use the id `<username>/<credential id>`.
 */
export interface StoredObject<V = Record<string, unknown>> {
  kind: ResourceKind;
  id: string;
  value: V;
  createdIndex: number;
  modifiedIndex: number;
}

/** The whole configuration at one revision. */
export interface StoreState {
  revision: number;
  objects: StoredObject[];
}

export type StoreEvent =
  | { type: 'put'; object: StoredObject; revision: number }
  | { type: 'delete'; kind: ResourceKind; id: string; revision: number }
  /** The store replaced everything at once (standalone reload, etcd compaction resync). */
  | { type: 'reset'; state: StoreState };

export interface PutOptions {
  /** Compare-and-swap: fail with GH_ERR_STORE_CONFLICT unless the object's modifiedIndex equals this (0 = must not exist). */
  expectedRevision?: number;
}

/**
 * The contract every config store implements (sqlite, standalone, etcd). The same
 * suite in test/contract/config-store.contract.ts runs against each one.
 */
export interface ConfigStore {
  readonly type: 'sqlite' | 'standalone' | 'etcd';
  /** Standalone stores are driven by their file: writes throw GH_ERR_STORE_READ_ONLY. */
  readonly readOnly: boolean;
  /** Loads (or re-reads) the whole state. Throws a coded error when the source is invalid. */
  load(): Promise<StoreState>;
  get(kind: ResourceKind, id: string): Promise<StoredObject | undefined>;
  list(kind: ResourceKind): Promise<StoredObject[]>;
  put(kind: ResourceKind, id: string, value: Record<string, unknown>, opts?: PutOptions): Promise<StoredObject>;
  delete(kind: ResourceKind, id: string, opts?: PutOptions): Promise<boolean>;
  /** Calls `onEvent` for every change after `fromRevision`; returns a function that stops watching. */
  watch(fromRevision: number, onEvent: (event: StoreEvent) => void): () => void;
  close(): Promise<void>;
  /**
   * Why the store cannot take writes any more (its database file was deleted or replaced
   * under it), or undefined. Writes then throw GH_ERR_STORE_UNAVAILABLE; readiness reports it.
   */
  problem?(): string | undefined;
  /** Content-addressed binaries (custom plugins' .wasm); absent where the store cannot hold them. */
  readonly blobs?: BlobStore;
}

/**
 * Binaries keyed by the hex sha256 of their bytes. Writing the same bytes twice stores
 * them once. Objects name blobs by that key; `keepOnly` removes every blob no object
 * names any more (the caller says which are still named).
 */
export interface BlobStore {
  /** Stores `bytes` (once) and returns their hex sha256. */
  putBlob(bytes: Uint8Array): Promise<string>;
  getBlob(sha256: string): Promise<Buffer | undefined>;
  /** Deletes every blob whose key is not in `referenced`; returns the deleted keys. */
  keepOnly(referenced: ReadonlySet<string>): Promise<string[]>;
}

/** A synchronous, read-only view of the blobs, opened by a process that does not own the store (a worker). */
export interface BlobReader {
  get(sha256: string): Buffer | undefined;
  close(): void;
}

/** The raw objects of one store revision, as the snapshot builders read them (ConfigState fits). */
export interface ConfigView {
  readonly revision: number;
  list(kind: ResourceKind): Iterable<StoredObject>;
  get(kind: ResourceKind, id: string): StoredObject | undefined;
  /** Changes when a resolved secret value changes (src/secrets/resolver.ts). */
  readonly secretGeneration?: number;
}
