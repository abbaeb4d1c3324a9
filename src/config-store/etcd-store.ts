// The cluster store (store.type: etcd): every gateway node reads and watches the same
// etcd prefix, in APISIX's key layout (etcd-keys.ts), values the objects' JSON.
//
// Revisions are etcd's: an object's createdIndex/modifiedIndex are its key's
// create_revision/mod_revision. A state's revision is that of the newest configuration
// change it holds, not etcd's header revision: node-directory and blob writes advance the
// latter too, and the revisions nodes report must compare (a node that loaded and one that
// watched the same changes stand at the same revision). A delete leaves no key to read its
// revision from, so a load may date a state before a delete it already reflects; watching
// from there delivers that delete again (harmless) and brings the revision up to date.
// A transaction of several keys gives them one revision; its events share that revision
// and are delivered together (ConfigState applies events of its current revision).
//
// A value written by hand that is not JSON, not an object or fails the resource's
// validation is reported (error log naming the key and why, once per revision) and
// skipped: load(), get() and list() leave it out, a watcher keeps what it had (as APISIX
// does), and a put that expects no object (expectedRevision 0) replaces it.
import type { IEvent, IKeyValue } from 'etcd3';
import { GRPCOutOfRangeError } from 'etcd3';
import { RESOURCE_KINDS, type ResourceKind } from '../contracts/resources.js';
import type { ConfigStore, PutOptions, StoreEvent, StoreState, StoredObject } from '../contracts/store.js';
import { GatehouseError } from '../core/errors.js';
import { logger, type Logger } from '../core/logger.js';
import { EtcdBlobStore } from './etcd-blobs.js';
import { EtcdConnection, type EtcdTlsFiles, type ReachabilityListener } from './etcd-connection.js';
import { EtcdKeys, type KeyRange } from './etcd-keys.js';
import { EtcdNodeDirectory } from './etcd-nodes.js';
import { PrefixWatch } from './etcd-watch.js';
import { validateResource, type ValidateOptions } from './validate.js';

export type { EtcdTlsFiles, ReachabilityListener } from './etcd-connection.js';

export interface EtcdStoreOptions {
  /** `http(s)://host:port` of the etcd members. */
  endpoints: string[];
  /** Key prefix (default `/gatehouse`). */
  prefix?: string;
  /** etcd RBAC credentials. */
  user?: string;
  password?: string;
  tls?: EtcdTlsFiles;
  /** Bound of every etcd request, in ms (store.etcd.timeout; default 30 s). */
  timeoutMs?: number;
  /** While etcd is down, how often it is probed (default 500 ms). */
  probeIntervalMs?: number;
  /** The checks a hand-written value must pass (default: the resource schemas). */
  validate?: ValidateOptions;
  /** keepOnly spares blobs younger than this (default 5 min): another node may be about to name one. */
  blobGraceMs?: number;
  log?: Logger;
}

const PAGE = 1000;
const LOAD_ATTEMPTS = 3;
/** Reported bad values remembered, so a key is reported once per revision and not on every read. */
const MAX_REPORTED = 10_000;

export class EtcdStore implements ConfigStore {
  readonly type = 'etcd' as const;
  readonly readOnly = false;
  readonly blobs: EtcdBlobStore;
  /** The node directory (`<prefix>/data_plane/server_info/`). */
  readonly nodes: EtcdNodeDirectory;
  readonly keys: EtcdKeys;

  private readonly conn: EtcdConnection;
  private readonly log: Logger;
  private readonly validate: ValidateOptions;
  private readonly watches = new Set<PrefixWatch>();
  private readonly reported = new Set<string>();
  private readonly endpointList: readonly string[];
  /** The newest configuration change this store wrote or watched (a delete's revision cannot be read back). */
  private lastChange = 0;
  private closed = false;

  /** Creates the client; nothing is sent until the first call (see connect). */
  constructor(opts: EtcdStoreOptions) {
    this.log = opts.log ?? logger().child({ module: 'etcd-store' });
    this.validate = opts.validate ?? {};
    this.keys = new EtcdKeys(opts.prefix ?? '/gatehouse');
    this.endpointList = opts.endpoints;
    this.conn = new EtcdConnection({
      endpoints: opts.endpoints, user: opts.user, password: opts.password, tls: opts.tls,
      timeoutMs: opts.timeoutMs ?? 30_000, probeIntervalMs: opts.probeIntervalMs ?? 500, probeKey: `${this.keys.prefix}/`, log: this.log,
    });
    this.blobs = new EtcdBlobStore({ connection: this.conn, dir: this.keys.blobs, graceMs: opts.blobGraceMs ?? 300_000, log: this.log });
    this.nodes = new EtcdNodeDirectory({ connection: this.conn, dir: this.keys.nodes, log: this.log });
  }

  /** A store whose etcd answered: throws GH_ERR_STORE_UNAVAILABLE naming the endpoints when it cannot be reached or refuses the credentials. */
  static async connect(opts: EtcdStoreOptions): Promise<EtcdStore> {
    const store = new EtcdStore(opts);
    try {
      await store.check();
    } catch (e) {
      await store.close();
      throw e;
    }
    return store;
  }

  /** One request to etcd now; throws the reason it failed. */
  check(): Promise<void> {
    return this.conn.check();
  }

  /** Where the configuration is: the endpoints (sorted) and the prefix; names it in messages and identifies it. */
  describe(): string {
    return `etcd ${[...this.endpointList].sort().join(', ')} prefix ${this.keys.prefix}`;
  }

  /** False from a failed request or watch until etcd answers again (probed every probeIntervalMs). */
  reachable(): boolean {
    return this.conn.reachable();
  }

  /** Why etcd is taken for down (the message writes fail with), or undefined while it answers. */
  unreachableDetail(): string | undefined {
    return this.conn.downDetail();
  }

  /** Calls `listener(false, why)` when etcd goes down and `listener(true)` when it is back; returns the unsubscribe function. */
  onReachability(listener: ReachabilityListener): () => void {
    return this.conn.onReachability(listener);
  }

  async load(): Promise<StoreState> {
    return (await this.read()).state;
  }

  /** The configuration, and the etcd revision it was read at. */
  private async read(): Promise<{ state: StoreState; readAt: number }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.readState();
      } catch (e) {
        // the pinned revision was compacted between two pages: read again at a newer one
        if (!(e instanceof GRPCOutOfRangeError) || attempt >= LOAD_ATTEMPTS) throw e;
      }
    }
  }

  async get(kind: ResourceKind, id: string): Promise<StoredObject | undefined> {
    const key = this.objectKey(kind, id);
    const res = await this.conn.request((c) => c.kv.range({ key }));
    const kv = res.kvs[0];
    return kv === undefined ? undefined : this.decode(kv);
  }

  async list(kind: ResourceKind): Promise<StoredObject[]> {
    checkKind(kind);
    const objects: StoredObject[] = [];
    await this.readRange(this.keys.kindRange(kind), undefined, (kv) => {
      const o = this.decode(kv);
      if (o?.kind === kind) objects.push(o);
    });
    return objects.sort(byCreation);
  }

  async put(kind: ResourceKind, id: string, value: Record<string, unknown>, opts: PutOptions = {}): Promise<StoredObject> {
    const key = this.objectKey(kind, id);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new GatehouseError('GH_ERR_CONFIG_INVALID', `${kind} "${id}": the value must be an object`);
    }
    const text = JSON.stringify(value);
    const write = (expected: number | undefined) => this.conn.request((c) => c.kv.txn({
      compare: compareModRevision(key, expected),
      success: [{ request_put: { key, value: Buffer.from(text), prev_kv: true } }],
      failure: [{ request_range: { key } }],
    })).catch((e: unknown) => { throw tooLarge(e, kind, id, text.length); });
    let res = await write(opts.expectedRevision);
    const current = res.succeeded ? undefined : res.responses[0]?.response_range.kvs[0];
    // a bad value (skipped, so absent for every reader) is replaced by a write that expects no object
    if (current !== undefined && opts.expectedRevision === 0 && this.decode(current) === undefined) {
      res = await write(Number(current.mod_revision));
    }
    if (!res.succeeded) throw conflict(kind, id, opts.expectedRevision!, res.responses[0]?.response_range.kvs[0]);
    const revision = Number(res.header.revision);
    this.noteChange(revision);
    const previous = res.responses[0]?.response_put.prev_kv;
    return {
      kind, id, value: JSON.parse(text) as Record<string, unknown>,
      createdIndex: previous ? Number(previous.create_revision) : revision, modifiedIndex: revision,
    };
  }

  async delete(kind: ResourceKind, id: string, opts: PutOptions = {}): Promise<boolean> {
    const key = this.objectKey(kind, id);
    const res = await this.conn.request((c) => c.kv.txn({
      compare: compareModRevision(key, opts.expectedRevision),
      success: [{ request_delete_range: { key } }],
      failure: [{ request_range: { key } }],
    }));
    if (!res.succeeded) throw conflict(kind, id, opts.expectedRevision!, res.responses[0]?.response_range.kvs[0]);
    const deleted = Number(res.responses[0]?.response_delete_range.deleted ?? 0) > 0;
    if (deleted) this.noteChange(Number(res.header.revision));
    return deleted;
  }

  /**
   * Delivers every change after `fromRevision`: what was missed first, then changes as
   * they happen, across etcd restarts and disconnects; a `reset` when etcd compacted the
   * revisions needed.
   */
  watch(fromRevision: number, onEvent: (event: StoreEvent) => void): () => void {
    let active = true;
    const deliver = (event: StoreEvent): void => {
      if (!active) return;
      try {
        onEvent(event);
      } catch (e) {
        this.log.error({ err: (e as Error).message }, 'store watcher failed');
      }
    };
    const watch = new PrefixWatch({
      connection: this.conn, range: this.keys.all, fromRevision, log: this.log,
      onEvents: (events) => {
        for (const ev of events) {
          const event = this.toEvent(ev);
          if (event !== undefined) deliver(event);
        }
      },
      resync: async () => {
        const { state, readAt } = await this.read();
        deliver({ type: 'reset', state });
        // from the read's revision: from the state's, a compaction past it would reset again and again
        return readAt;
      },
    });
    this.watches.add(watch);
    return () => {
      active = false;
      watch.stop();
      this.watches.delete(watch);
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.watches) w.stop();
    this.watches.clear();
    await this.nodes.close();
    this.conn.close();
  }

  private async readState(): Promise<{ state: StoreState; readAt: number }> {
    let readAt: number | undefined;
    const objects: StoredObject[] = [];
    let newest = 0;
    for (const range of this.keys.configRanges()) {
      readAt = await this.readRange(range, readAt, (kv) => {
        const o = this.decode(kv);
        if (o === undefined) return;
        objects.push(o);
        if (o.modifiedIndex > newest) newest = o.modifiedIndex;
      });
    }
    objects.sort(byCreation);
    // a change of this store's after the read is not in it
    if (this.lastChange <= readAt! && this.lastChange > newest) newest = this.lastChange;
    // with nothing to date it by, the read's own revision
    return { state: { revision: newest > 0 ? newest : readAt!, objects }, readAt: readAt! };
  }

  /**
   * Reads a range page by page, every page at the same revision (the first page's when
   * `revision` is undefined); returns that revision.
   */
  private async readRange(range: KeyRange, revision: number | undefined, onKv: (kv: IKeyValue) => void): Promise<number> {
    let at = revision;
    let start = range.key;
    for (;;) {
      const from = start;
      const res = await this.conn.request((c) =>
        c.kv.range({ key: from, range_end: range.range_end, limit: PAGE, ...(at !== undefined ? { revision: at } : {}) }));
      at ??= Number(res.header.revision);
      for (const kv of res.kvs) onKv(kv);
      if (!res.more || res.kvs.length === 0) return at;
      start = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])]);
    }
  }

  private toEvent(ev: IEvent): StoreEvent | undefined {
    const revision = Number(ev.kv.mod_revision);
    if (ev.type === 'Delete') {
      const parsed = this.keys.parse(ev.kv.key.toString());
      if (parsed.type !== 'object') return undefined;
      this.noteChange(revision);
      return { type: 'delete', kind: parsed.kind, id: parsed.id, revision };
    }
    const object = this.decode(ev.kv);
    if (object === undefined) return undefined;
    this.noteChange(revision);
    return { type: 'put', object, revision };
  }

  /** The object a key-value holds, or undefined for keys that are not configuration and for bad values (reported). */
  private decode(kv: IKeyValue): StoredObject | undefined {
    const key = kv.key.toString();
    const parsed = this.keys.parse(key);
    if (parsed.type === 'other') return undefined;
    const modifiedIndex = Number(kv.mod_revision);
    if (parsed.type === 'invalid') return this.report(key, modifiedIndex, `not an object key: ${parsed.reason}`);
    let value: unknown;
    try {
      value = JSON.parse(kv.value.toString());
    } catch (e) {
      return this.report(key, modifiedIndex, `not valid JSON: ${(e as Error).message}`);
    }
    try {
      // the same checks as the Admin API's and the standalone file's; the stored value is served as written
      validateResource(parsed.kind, value, this.validate);
    } catch (e) {
      return this.report(key, modifiedIndex, (e as Error).message);
    }
    return {
      kind: parsed.kind, id: parsed.id, value: value as Record<string, unknown>,
      createdIndex: Number(kv.create_revision), modifiedIndex,
    };
  }

  private report(key: string, revision: number, reason: string): undefined {
    const seen = `${key}@${revision}`;
    if (this.reported.has(seen)) return undefined;
    if (this.reported.size >= MAX_REPORTED) this.reported.clear();
    this.reported.add(seen);
    this.log.error({ key, revision, reason }, `etcd value skipped: ${key} (revision ${revision}): ${reason}`);
    return undefined;
  }

  private noteChange(revision: number): void {
    if (revision > this.lastChange) this.lastChange = revision;
  }

  private objectKey(kind: ResourceKind, id: string): Buffer {
    checkKind(kind);
    if (typeof id !== 'string' || id === '') throw new GatehouseError('GH_ERR_CONFIG_INVALID', `${kind}: the id must be a non-empty string`);
    const key = this.keys.objectKey(kind, id);
    // an id the layout cannot hold (a "/" where none may be) would come back as another object
    const back = this.keys.parse(key);
    if (back.type !== 'object' || back.kind !== kind || back.id !== id) {
      throw new GatehouseError('GH_ERR_CONFIG_INVALID', `${kind}: the id "${id}" cannot be an etcd key (${key})`);
    }
    return Buffer.from(key);
  }
}

function checkKind(kind: ResourceKind): void {
  if (!RESOURCE_KINDS.includes(kind)) throw new GatehouseError('GH_ERR_CONFIG_INVALID', `unknown resource kind "${String(kind)}"`);
}

/** Compare-and-swap on the key's mod_revision; etcd reads a missing key's as 0, so 0 means "must not exist". */
function compareModRevision(key: Buffer, expected: number | undefined) {
  if (expected === undefined) return [];
  return [{ key, target: 'Mod' as const, result: 'Equal' as const, mod_revision: String(expected) }];
}

function byCreation(a: StoredObject, b: StoredObject): number {
  return a.createdIndex - b.createdIndex || (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function conflict(kind: ResourceKind, id: string, expected: number, current: IKeyValue | undefined): GatehouseError {
  const actual = current === undefined ? 'it does not exist' : `its modifiedIndex is ${current.mod_revision}`;
  return new GatehouseError('GH_ERR_STORE_CONFLICT',
    `${kind} "${id}" changed: expected modifiedIndex ${expected}${expected === 0 ? ' (must not exist)' : ''}, but ${actual}`);
}

function tooLarge(e: unknown, kind: ResourceKind, id: string, bytes: number): unknown {
  if (!(e instanceof Error) || !/request is too large|larger than max/.test(e.message)) return e;
  return new GatehouseError('GH_ERR_CONFIG_INVALID',
    `${kind} "${id}" is too large for etcd: ${bytes} bytes of JSON, over etcd's request limit (--max-request-bytes, 1.5 MiB by default)`, { cause: e });
}
