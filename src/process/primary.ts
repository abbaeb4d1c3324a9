import cluster, { type Worker } from 'node:cluster';
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NodeConfig } from '../contracts/node-config.js';
import type { ConfigStore, StoreEvent } from '../contracts/store.js';
import { logger, setLogLevel } from '../core/logger.js';
import { loadNodeConfig } from '../core/node-config.js';
import { ConfigState } from '../config-store/state.js';
import { createStore } from '../config-store/create-store.js';
import type { BoundAddress } from '../data-plane/server.js';
import { AdminServer } from '../admin-api/server.js';
import { resolveAdminKeys } from '../admin-api/keys.js';
import { compileExpr } from '../core/expr/index.js';
import { GatehouseError } from '../core/errors.js';
import { PluginRegistry } from '../plugin-runtime/registry.js';
import type { ToPrimary, ToWorker } from './messages.js';
import { StatusServer, type StatusSource } from './status-server.js';

const HEARTBEAT_MS = 5_000;
const HUNG_AFTER_MS = 20_000;

interface WorkerInfo {
  worker: Worker;
  index: number;
  addresses?: BoundAddress[];
  applied: number;
  lastPong: number;
}

/**
 * The supervising process: owns the store and its watch, forks the data-plane workers,
 * broadcasts every change to them, and restarts a worker that dies or hangs.
 */
export class Primary {
  private readonly log = logger().child({ module: 'primary' });
  private readonly workers = new Map<number, WorkerInfo>();
  private state!: ConfigState;
  private store!: ConfigStore;
  private stopWatch: (() => void) | undefined;
  private shuttingDown = false;
  private started = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private queued: StoreEvent[] = [];
  private crashes = 0;
  private pingSeq = 0;
  private admin: AdminServer | undefined;
  private statusServer: StatusServer | undefined;
  private adminAddress: BoundAddress | undefined;
  private statusAddress: BoundAddress | undefined;

  constructor(private config: NodeConfig) {}

  static async start(configFile: string): Promise<Primary> {
    const config = await loadNodeConfig(configFile);
    const p = new Primary(config);
    await p.boot();
    return p;
  }

  get pidFile(): string {
    return join(this.config.data_dir, 'gatehouse.pid');
  }

  private async boot(): Promise<void> {
    setLogLevel(this.config.log.level);
    mkdirSync(this.config.data_dir, { recursive: true });
    this.store = await createStore(this.config);
    this.state = ConfigState.fromStoreState(await this.store.load());
    this.watchStore();
    await this.startControlListeners();
    writeFileSync(this.pidFile, String(process.pid));

    cluster.setupPrimary({ exec: fileURLToPath(new URL('./worker-main.js', import.meta.url)) });
    for (let i = 0; i < this.config.node.workers; i++) this.fork(i);
    this.heartbeat = setInterval(() => this.checkHeartbeats(), HEARTBEAT_MS).unref();

    process.on('SIGTERM', () => void this.shutdown(true));
    process.on('SIGINT', () => void this.shutdown(true));
    process.on('SIGUSR2', () => void this.shutdown(false));
    process.on('SIGHUP', () => void this.reload());
  }

  /** The Admin API and the status listener (which falls back to the admin listener when not configured). */
  private async startControlListeners(): Promise<void> {
    const status: StatusSource = {
      expectedWorkers: () => this.config.node.workers,
      workers: () => [...this.workers.values()].map((w) => ({
        index: w.index, pid: w.worker.process.pid, revision: w.applied, listening: w.addresses !== undefined,
      })),
      // An acknowledged Admin API write may not have come back through the watch yet.
      revision: () => Math.max(this.state.revision, this.admin?.lastWriteRevision ?? 0),
    };
    const keys = resolveAdminKeys(this.config, this.log);
    // Writes are checked against the plugins the workers run (same whitelist and folders),
    // so the API refuses what the data plane could not serve.
    const plugins = await PluginRegistry.load({ whitelist: this.config.plugins, dirs: this.config.plugin_dirs });
    this.admin = new AdminServer({
      config: this.config, store: this.store, keys,
      validate: {
        checkPlugins: plugins.checkPlugins,
        // Its messages are already APISIX's (`invalid plugin name`, `invalid configuration: ...`);
        // as a GatehouseError validateResource passes them on without another prefix.
        checkMetadata: (name, value) => {
          try {
            plugins.checkMetadata(name, value);
          } catch (e) {
            throw new GatehouseError('GH_ERR_CONFIG_INVALID', (e as Error).message, { cause: e });
          }
        },
        checkExpr: (rule) => { compileExpr(rule); },
      },
      ...(this.config.status === undefined ? { status } : {}),
    });
    this.adminAddress = await this.admin.listen();
    if (this.config.status !== undefined) {
      this.statusServer = new StatusServer(this.config.status.listen, status);
      this.statusAddress = await this.statusServer.listen();
    } else {
      this.statusAddress = this.adminAddress;
    }
  }

  private watchStore(): void {
    this.stopWatch?.();
    this.stopWatch = this.store.watch(this.state.revision, (ev) => {
      this.state.applyEvent(ev);
      if (this.queued.length === 0) setImmediate(() => this.flush());
      this.queued.push(ev);
    });
  }

  private flush(): void {
    const events = this.queued;
    this.queued = [];
    this.broadcast({ type: 'events', events });
  }

  private broadcast(msg: ToWorker): void {
    for (const info of this.workers.values()) if (info.worker.isConnected()) info.worker.send(msg);
  }

  private fork(index: number): void {
    const worker = cluster.fork({ GATEHOUSE_WORKER_INDEX: String(index) });
    const info: WorkerInfo = { worker, index, applied: 0, lastPong: Date.now() };
    this.workers.set(worker.id, info);
    worker.on('message', (msg: ToPrimary) => this.onMessage(info, msg));
    worker.on('exit', (code, signal) => this.onExit(info, code, signal));
  }

  private onMessage(info: WorkerInfo, msg: ToPrimary): void {
    switch (msg.type) {
      case 'hello':
        // Queued events not yet broadcast are already in `state`; the worker must not see them twice.
        info.worker.send({ type: 'init', config: this.config, state: this.state.toStoreState() } satisfies ToWorker);
        return;
      case 'listening':
        info.addresses = msg.addresses;
        this.maybeAnnounce();
        return;
      case 'applied':
        info.applied = msg.revision;
        return;
      case 'pong':
        info.lastPong = Date.now();
        return;
      case 'fatal':
        this.log.fatal({ worker: info.index, err: msg.message }, 'worker could not start');
        if (!this.started) void this.shutdown(false, 1);
        return;
    }
  }

  private maybeAnnounce(): void {
    if (this.started) return;
    const all = [...this.workers.values()];
    if (all.length < this.config.node.workers || all.some((w) => w.addresses === undefined)) return;
    this.started = true;
    this.log.info({
      listen: all[0]!.addresses, admin: this.adminAddress, status: this.statusAddress,
      workers: all.length, store: this.config.store.type, revision: this.state.revision,
    }, 'gatehouse started');
  }

  private onExit(info: WorkerInfo, code: number | null, signal: string | null): void {
    this.workers.delete(info.worker.id);
    if (this.shuttingDown) return;
    this.crashes++;
    const delay = Math.min(5_000, 100 * 2 ** Math.min(this.crashes, 6));
    this.log.error({ worker: info.index, code, signal, restart_in_ms: delay }, 'worker exited; restarting it');
    setTimeout(() => {
      if (!this.shuttingDown) this.fork(info.index);
    }, delay).unref();
    // A worker that stays up a while resets the backoff.
    setTimeout(() => { this.crashes = Math.max(0, this.crashes - 1); }, 30_000).unref();
  }

  private checkHeartbeats(): void {
    const now = Date.now();
    for (const info of this.workers.values()) {
      if (now - info.lastPong > HUNG_AFTER_MS && info.addresses !== undefined) {
        this.log.error({ worker: info.index }, 'worker stopped answering heartbeats; killing it');
        info.worker.process.kill('SIGKILL');
        continue;
      }
      if (info.worker.isConnected()) info.worker.send({ type: 'ping', seq: ++this.pingSeq } satisfies ToWorker);
    }
  }

  /** Per-worker applied revision, for status and readiness. */
  workerRevisions(): { index: number; pid: number | undefined; revision: number }[] {
    return [...this.workers.values()].map((w) => ({ index: w.index, pid: w.worker.process.pid, revision: w.applied }));
  }

  get revision(): number {
    return this.state.revision;
  }

  /** SIGHUP / `gatehouse reload`: re-reads the store's source (and the log level); listeners stay. */
  async reload(): Promise<void> {
    try {
      const next = await loadNodeConfig(this.config.file);
      setLogLevel(next.log.level);
      // keys and allow list apply at once; a changed listen address needs a restart
      this.admin?.updateAccess(resolveAdminKeys(next, this.log), next.admin.allow);
      const state = await this.store.load();
      this.state = ConfigState.fromStoreState(state);
      this.watchStore();
      this.broadcast({ type: 'events', events: [{ type: 'reset', state }] });
      this.log.info({ revision: state.revision }, 'configuration reloaded');
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'reload failed; the running configuration is kept');
    }
  }

  async shutdown(graceful: boolean, exitCode = 0): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    this.stopWatch?.();
    await Promise.all([this.admin?.close(), this.statusServer?.close()]);
    const timeoutMs = this.config.node.drain_timeout * 1000;
    this.log.info({ graceful }, graceful ? 'draining in-flight requests, then exiting' : 'stopping now');
    const exits = [...this.workers.values()].map((info) => new Promise<void>((resolve) => {
      if (info.worker.isDead()) return resolve();
      info.worker.once('exit', () => resolve());
      if (graceful && info.worker.isConnected()) info.worker.send({ type: 'drain', timeoutMs } satisfies ToWorker);
      else info.worker.process.kill('SIGKILL');
    }));
    const forceAfter = setTimeout(() => {
      for (const info of this.workers.values()) info.worker.process.kill('SIGKILL');
    }, graceful ? timeoutMs + 5_000 : 2_000);
    await Promise.all(exits);
    clearTimeout(forceAfter);
    await this.store.close().catch(() => undefined);
    rmSync(this.pidFile, { force: true });
    process.exit(exitCode);
  }
}
