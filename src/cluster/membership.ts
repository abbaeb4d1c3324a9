// Which gateway nodes share this configuration, and how far each has got: every node
// registers itself in the store's node directory (on etcd a key under a lease, so a node
// that dies drops out by itself) and reports the revision all its workers applied. A node
// on a store without a directory (sqlite, standalone) is a cluster of one.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { NodeDirectory, NodeRecord } from '../contracts/cluster.js';

/** A node as `GET /apisix/admin/cluster/nodes` shows it. */
export interface ClusterNodeView extends NodeRecord {
  /** Revisions behind the newest one any node reports or this node knows. */
  lag: number;
  /** This node (the one answering). */
  self: boolean;
}

export interface MembershipOptions {
  id: string;
  version: string;
  store: string;
  directory: NodeDirectory | undefined;
  ttlSeconds: number;
  log: Logger;
  /** At most one report per this long (applied revisions in between are coalesced). */
  reportIntervalMs?: number;
}

const RETRY_MS = 1000;

/** The node's id: kept in `<data_dir>/node-id` so a restarted node is the same node. */
export function nodeIdOf(dataDir: string): string {
  const file = join(dataDir, 'node-id');
  if (existsSync(file)) {
    const id = readFileSync(file, 'utf8').trim();
    if (/^[A-Za-z0-9._-]{1,64}$/.test(id)) return id;
  }
  const id = randomUUID();
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, `${id}\n`);
  return id;
}

export class Membership {
  private record: NodeRecord;
  private timer: NodeJS.Timeout | undefined;
  private registered = false;
  private closed = false;
  private lastReport = 0;

  constructor(private readonly opts: MembershipOptions) {
    const now = new Date().toISOString();
    this.record = { id: opts.id, hostname: hostname(), version: opts.version, store: opts.store, applied_revision: 0, boot_time: now, updated_at: now };
  }

  /** Registers the node; while the directory cannot be reached it tries again every second. */
  start(): void {
    void this.sync();
  }

  /** Every worker applied `revision`: reported now, or with the next report. */
  applied(revision: number): void {
    if (revision <= this.record.applied_revision) return;
    this.record = { ...this.record, applied_revision: revision };
    this.schedule(Math.max(0, this.lastReport + (this.opts.reportIntervalMs ?? 250) - Date.now()));
  }

  /** The directory lost the node's registration (its lease expired while the store was away): register again. */
  lost(): void {
    this.registered = false;
    this.schedule(0);
  }

  /** Every registered node with its lag; this node first. Without a directory, this node alone. */
  async nodes(knownRevision: number): Promise<ClusterNodeView[]> {
    const self = { ...this.record, updated_at: new Date().toISOString() };
    const others = this.opts.directory === undefined ? [] : (await this.opts.directory.list()).filter((n) => n.id !== self.id);
    const all = [self, ...others.sort((a, b) => a.id.localeCompare(b.id))];
    const newest = Math.max(knownRevision, ...all.map((n) => n.applied_revision));
    return all.map((n) => ({ ...n, lag: Math.max(0, newest - n.applied_revision), self: n === self }));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.opts.directory?.unregister(this.record.id).catch(() => undefined);
  }

  private schedule(ms: number): void {
    if (this.closed || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.sync();
    }, ms);
    this.timer.unref();
  }

  private async sync(): Promise<void> {
    const dir = this.opts.directory;
    if (dir === undefined || this.closed) return;
    this.record = { ...this.record, updated_at: new Date().toISOString() };
    try {
      if (this.registered) {
        await dir.report(this.record);
      } else {
        await dir.register(this.record, this.opts.ttlSeconds, () => this.lost());
        this.registered = true;
        this.opts.log.info({ node_id: this.record.id }, 'node registered in the cluster');
      }
      this.lastReport = Date.now();
    } catch (err) {
      this.opts.log.debug({ err: (err as Error).message }, 'cluster registration or report failed; retrying');
      this.schedule(RETRY_MS);
    }
  }
}
