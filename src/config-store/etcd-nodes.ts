// The node registry of cluster mode, where APISIX 3 keeps its own:
// `<prefix>/data_plane/server_info/<node id>`, one JSON record per gateway node, attached
// to a lease. A node that stops (or loses etcd for longer than the TTL) disappears when
// the lease runs out; a node whose lease was lost registers again as soon as it can.
import { EtcdLeaseInvalidError, type Lease } from 'etcd3';
import { GatehouseError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { EtcdConnection } from './etcd-connection.js';
import { prefixRange } from './etcd-keys.js';

/** What a node says about itself; extra fields are kept in its record. */
export interface NodeInfo {
  id: string;
  hostname: string;
  version: string;
  [field: string]: unknown;
}

/** A node's record in etcd. */
interface StoredRecord extends NodeInfo {
  /** Unix seconds (APISIX's server_info fields). */
  boot_time: number;
  last_report_time: number;
  /** The newest store revision the node has applied (reportApplied). */
  applied_revision: number;
}

export interface NodeRecord extends StoredRecord {
  /** Configuration revisions not applied yet: newest change's revision − applied_revision, at least 0. */
  lag: number;
}

export interface NodeRegistryOptions {
  connection: EtcdConnection;
  /** `<prefix>/data_plane/server_info/` */
  dir: string;
  /** How long to wait before registering again after a failure while etcd answers. */
  retryMs: number;
  log: Logger;
}

const NODE_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

export class EtcdNodeRegistry {
  private record: StoredRecord | undefined;
  private ttlSeconds = 0;
  private lease: Lease | undefined;
  private leaseId = '';
  private writing: Promise<void> | undefined;
  private writeAgain = false;
  /** The last write failed: the record goes out again when etcd is back. */
  private stale = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private stopListening: (() => void) | undefined;

  constructor(private readonly opts: NodeRegistryOptions) {}

  /**
   * Registers this node with a lease of `ttlSeconds`, kept alive until close(). Rejects when
   * etcd cannot take the record now; the registry keeps trying in the background either way.
   */
  async register(info: NodeInfo, ttlSeconds: number): Promise<void> {
    if (typeof info.id !== 'string' || !NODE_ID.test(info.id)) {
      throw new GatehouseError('GH_ERR_CONFIG_INVALID', `node id "${String(info.id)}" must be 1-128 letters, digits, "_", ".", ":" or "-"`);
    }
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) {
      throw new GatehouseError('GH_ERR_CONFIG_INVALID', `node registration ttl must be an integer >= 1 (seconds), got ${ttlSeconds}`);
    }
    const now = unixSeconds();
    this.record = { ...info, boot_time: now, last_report_time: now, applied_revision: this.record?.applied_revision ?? 0 };
    this.ttlSeconds = ttlSeconds;
    this.stopListening ??= this.opts.connection.onReachability((up) => {
      if (!up) return;
      if (this.lease === undefined) this.retry(0);
      else if (this.stale) void this.flush();
    });
    try {
      await this.grantAndWrite();
    } catch (e) {
      this.retry(this.opts.retryMs);
      throw e;
    }
  }

  /** Records the revision this node has applied. Never rejects: a record that cannot be written now is written when etcd is back. */
  async reportApplied(revision: number): Promise<void> {
    const record = this.record;
    if (record === undefined || this.closed || record.applied_revision === revision) return;
    record.applied_revision = revision;
    record.last_report_time = unixSeconds();
    await this.flush();
  }

  /** Every registered node, by id; `lag` is measured against `configRevision`. */
  async list(configRevision: number): Promise<NodeRecord[]> {
    const range = prefixRange(this.opts.dir);
    const res = await this.opts.connection.request((c) => c.kv.range(range));
    const out: NodeRecord[] = [];
    for (const kv of res.kvs) {
      try {
        const r = JSON.parse(kv.value.toString()) as StoredRecord;
        const applied = Number(r.applied_revision) || 0;
        out.push({ ...r, applied_revision: applied, lag: Math.max(0, configRevision - applied) });
      } catch {
        this.opts.log.warn({ key: kv.key.toString() }, 'node record in etcd is not JSON: left out of the node list');
      }
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Stops the keep-alive and revokes the lease, so the record goes at once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopListening?.();
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    const lease = this.lease;
    this.lease = undefined;
    if (lease === undefined) return;
    try {
      await this.opts.connection.request(() => lease.revoke());
    } catch {
      lease.release();
      // etcd drops the record itself when the lease runs out
    }
  }

  private async grantAndWrite(): Promise<void> {
    if (this.closed) return;
    const lease = this.opts.connection.client.lease(this.ttlSeconds);
    lease.on('lost', (err: Error) => this.onLost(lease, err));
    let id: string;
    try {
      id = await this.opts.connection.request(() => lease.grant());
    } catch (e) {
      lease.release();
      throw e;
    }
    if (this.closed) {
      await lease.revoke().catch(() => undefined);
      return;
    }
    this.lease?.release();
    this.lease = lease;
    this.leaseId = id;
    await this.flush(true);
    this.opts.log.info({ node: this.record?.id, ttl: this.ttlSeconds }, 'node registered in etcd');
  }

  private onLost(lease: Lease, err: Error): void {
    if (lease !== this.lease || this.closed) return;
    this.lease = undefined;
    this.opts.log.warn({ node: this.record?.id, err: err.message }, 'node registration lease lost: registering again');
    this.retry(0);
  }

  private retry(delayMs: number): void {
    if (this.closed || this.retryTimer !== undefined) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.lease !== undefined || this.closed) return;
      // while etcd is down the reachability listener calls again when it is back
      this.grantAndWrite().catch(() => { if (this.opts.connection.reachable()) this.retry(this.opts.retryMs); });
    }, delayMs);
    this.retryTimer.unref();
  }

  /** Writes the record; writes asked for meanwhile become one more write. `strict` = throw instead of remembering the failure. */
  private flush(strict = false): Promise<void> {
    if (this.writing !== undefined) {
      this.writeAgain = true;
      return this.writing;
    }
    this.writing = (async () => {
      try {
        do {
          this.writeAgain = false;
          await this.writeRecord();
        } while (this.writeAgain && !this.closed);
        this.stale = false;
      } catch (e) {
        this.stale = true;
        if (e instanceof EtcdLeaseInvalidError && this.lease !== undefined) this.onLost(this.lease, e);
        if (strict) throw e;
      } finally {
        this.writing = undefined;
      }
    })();
    return this.writing;
  }

  private async writeRecord(): Promise<void> {
    const record = this.record;
    if (record === undefined || this.lease === undefined || this.closed) return;
    const key = Buffer.from(`${this.opts.dir}${record.id}`);
    const value = Buffer.from(JSON.stringify(record));
    const lease = this.leaseId;
    await this.opts.connection.request((c) => c.kv.put({ key, value, lease }));
  }
}

function unixSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
