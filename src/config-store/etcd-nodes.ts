// The node directory of cluster mode, where APISIX 3 keeps its own:
// `<prefix>/data_plane/server_info/<node id>`, one JSON record per gateway node, attached
// to a lease the directory keeps alive. A node that stops (or loses etcd for longer than
// the TTL) disappears when the lease runs out; `onLost` tells its owner (the membership,
// src/cluster/membership.ts) to register again.
import { EtcdLeaseInvalidError, type Lease } from 'etcd3';
import type { NodeDirectory, NodeRecord } from '../contracts/cluster.js';
import { GatehouseError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { EtcdConnection } from './etcd-connection.js';
import { prefixRange } from './etcd-keys.js';

export interface EtcdNodeDirectoryOptions {
  connection: EtcdConnection;
  /** `<prefix>/data_plane/server_info/` */
  dir: string;
  log: Logger;
}

const NODE_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

interface Registration { nodeId: string; lease: Lease; id: string; onLost: () => void }

export class EtcdNodeDirectory implements NodeDirectory {
  private current: Registration | undefined;

  constructor(private readonly opts: EtcdNodeDirectoryOptions) {}

  /** Writes `record` under a new lease of `ttlSeconds`, kept alive until unregister (a previous registration is dropped). */
  async register(record: NodeRecord, ttlSeconds: number, onLost: () => void): Promise<void> {
    if (typeof record.id !== 'string' || !NODE_ID.test(record.id)) {
      throw new GatehouseError('GH_ERR_CONFIG_INVALID', `node id "${String(record.id)}" must be 1-128 letters, digits, "_", ".", ":" or "-"`);
    }
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) {
      throw new GatehouseError('GH_ERR_CONFIG_INVALID', `node registration ttl must be an integer >= 1 (seconds), got ${ttlSeconds}`);
    }
    const lease = this.opts.connection.client.lease(ttlSeconds);
    lease.on('lost', (err: Error) => this.lose(lease, err));
    try {
      const id = await this.opts.connection.request(() => lease.grant());
      await this.write(record, id);
      this.current?.lease.release();
      this.current = { nodeId: record.id, lease, id, onLost };
    } catch (e) {
      lease.release();
      throw e;
    }
  }

  /** Rewrites the record under the registration's lease; a lease etcd no longer knows is reported lost. */
  async report(record: NodeRecord): Promise<void> {
    const reg = this.current;
    if (reg === undefined) throw new GatehouseError('GH_ERR_STORE_UNAVAILABLE', `node ${record.id} is not registered`);
    try {
      await this.write(record, reg.id);
    } catch (e) {
      if (e instanceof EtcdLeaseInvalidError) this.lose(reg.lease, e);
      throw e;
    }
  }

  async list(): Promise<NodeRecord[]> {
    const range = prefixRange(this.opts.dir);
    const res = await this.opts.connection.request((c) => c.kv.range(range));
    const out: NodeRecord[] = [];
    for (const kv of res.kvs) {
      try {
        out.push(JSON.parse(kv.value.toString()) as NodeRecord);
      } catch {
        this.opts.log.warn({ key: kv.key.toString() }, 'node record in etcd is not JSON: left out of the node list');
      }
    }
    return out;
  }

  /** Revokes the lease, so the record goes at once (etcd drops it at the TTL when it cannot be reached). */
  async unregister(nodeId: string): Promise<void> {
    const reg = this.current;
    if (reg === undefined || reg.nodeId !== nodeId) return;
    this.current = undefined;
    try {
      await this.opts.connection.request(() => reg.lease.revoke());
    } catch {
      reg.lease.release();
    }
  }

  /** Drops any registration (the store is closing): the lease's keep-alive must not outlive the client. */
  async close(): Promise<void> {
    if (this.current !== undefined) await this.unregister(this.current.nodeId);
  }

  private lose(lease: Lease, err: Error): void {
    const reg = this.current;
    if (reg === undefined || reg.lease !== lease) return;
    this.current = undefined;
    lease.release();
    this.opts.log.warn({ err: err.message }, 'node registration lease lost');
    reg.onLost();
  }

  private async write(record: NodeRecord, lease: string): Promise<void> {
    const key = Buffer.from(`${this.opts.dir}${record.id}`);
    const value = Buffer.from(JSON.stringify(record));
    await this.opts.connection.request((c) => c.kv.put({ key, value, lease }));
  }
}
