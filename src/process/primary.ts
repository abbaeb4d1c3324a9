import cluster, { type Worker } from 'node:cluster';
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NodeConfig } from '../contracts/node-config.js';
import type { ConfigStore, StoreEvent } from '../contracts/store.js';
import { logger, setLogFormat, setLogLevel } from '../core/logger.js';
import { loadNodeConfig } from '../core/node-config.js';
import { ConfigState } from '../config-store/state.js';
import { createStore } from '../config-store/create-store.js';
import type { BoundAddress, StreamBoundAddress } from '../data-plane/server.js';
import { GatehouseError } from '../core/errors.js';
import { setPluginNodeLimits } from '../plugin-runtime/node-limits.js';
import { PluginRegistry } from '../plugin-runtime/registry.js';
import type { ToPrimary, ToWorker } from './messages.js';
import { buildAdminServer } from './admin-wiring.js';
import { resolveAdminKeys } from '../admin-api/keys.js';
import type { AdminServer } from '../admin-api/server.js';
import { StatusServer, type StatusSource } from '../admin-api/status-server.js';
import { MetricsExportServer, clusterScrape } from '../observability/export-server.js';
import { VERSION } from '../core/version.js';
import { CounterService } from '../counters/counter-service.js';
import { CounterTable } from '../counters/counter-table.js';
import { SqliteValueBook } from '../counters/value-book.js';
import { attachCacheService, CacheService, configureProxyCache } from '../proxy-cache/index.js';
import { attachAnswerStoreService } from '../ai/cache/answer-store.js';
import { EchoUpstream } from '../examples/echo-upstream.js';
import { HandoffTracker, descriptorShortage } from './cluster-handoff.js';
import { WasmPluginSet, configSources, storeSources, workerServices } from '../wasm-host/index.js';
import { ClusterMode, isSharedStore } from '../cluster/cluster-mode.js';
import { createDiscoveryService, wantedServices, type DiscoveryService } from '../discovery/index.js';


const HEARTBEAT_MS = 5_000;
const HUNG_AFTER_MS = 20_000;
/** How long a plugin reload waits for every worker to confirm it. */
const PLUGIN_RELOAD_WAIT_MS = 10_000;

interface WorkerInfo {
  worker: Worker;
  index: number;
  addresses?: BoundAddress[];
  /** Its stream_proxy listeners (UDP ones only on worker 0). */
  stream?: StreamBoundAddress[];
  applied: number;
  lastPong: number;
  /** Plugin generation the worker runs: the one current when its init was sent, then each it confirmed. */
  pluginGeneration?: number;
  /** Why it cannot take connections now (out of descriptors), as it reported. */
  acceptBlocked?: string;
  /** It hit an uncaught error: a replacement is on its way, then it drains and exits. */
  retiring?: boolean;
  /** The sick worker this one replaces: it is told to drain once this one listens. */
  replaces?: WorkerInfo;
  handoffs: HandoffTracker;
}

/** How long a sick worker keeps serving while its replacement starts, at most. */
const REPLACEMENT_WAIT_MS = 15_000;

/**
 * The supervising process: owns the store and its watch, forks the data-plane workers,
 * broadcasts every change to them, and restarts a worker that dies or hangs.
 */
export class Primary {
  private readonly log = logger().child({ module: 'primary' });
  private readonly workers = new Map<number, WorkerInfo>();
  private state!: ConfigState;
  private store!: ConfigStore;
  private cluster!: ClusterMode;
  /** The registries of config.yaml's `discovery:` (one set of connections for the node); workers get its node sets over IPC. */
  private discovery!: DiscoveryService;
  /** Broadcasts wait for the binaries they name (cluster mode) and go out in order. */
  private broadcasts: Promise<void> = Promise.resolve();
  private preparing = 0;
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
  private metricsExport: MetricsExportServer | undefined;
  /** Every worker's metrics, merged: read by the Prometheus export and the Admin API's metrics summary alike. */
  private readonly workerMetrics = clusterScrape();
  private prometheusAddress: BoundAddress | undefined;
  private echoUpstream: EchoUpstream | undefined;
  private echoAddress: BoundAddress | undefined;
  /** The plugins the Admin API checks writes with and inspects chains with; replaced by a reload. */
  private plugins!: PluginRegistry;
  private pluginGeneration = 0;
  /** Plugin reloads run one at a time. */
  private pluginReloads: Promise<unknown> = Promise.resolve();

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
    process.title = 'gatehouse: primary';
    setLogLevel(this.config.log.level);
    setLogFormat(this.config.log.format);
    setPluginNodeLimits(this.config);
    configureProxyCache(this.config.proxy_cache);
    mkdirSync(this.config.data_dir, { recursive: true });
    this.store = await createStore(this.config);
    this.cluster = new ClusterMode(this.config, this.store, this.log);
    this.state = ConfigState.fromStoreState(await this.cluster.initialState());
    this.cluster.onReachability((up) => { if (up) this.cluster.resynced(); });
    this.discovery = createDiscoveryService(this.config.discovery, this.log);
    this.discovery.onChange((changes) => this.broadcast({ type: 'discovery', changes }));
    // Workers start with the nodes of the services the configuration names (a bounded wait).
    const discovered = this.discovery.want(wantedServices(this.state));
    this.watchStore();
    this.cluster.start();
    await this.startControlListeners();
    await this.startMetricsExport();
    await this.startEchoUpstream();
    writeFileSync(this.pidFile, String(process.pid));

    cluster.setupPrimary({
      exec: fileURLToPath(new URL('./worker-main.js', import.meta.url)),
      // isolated-vm (serverless functions) crashes on Node 20+ without it; a flag, not NODE_OPTIONS material
      execArgv: [...process.execArgv, '--no-node-snapshot'],
    });
    // limit-count / limit-req / limit-conn (policy local): counters shared by every worker, kept here;
    // ai-quota without redis: quotas kept here too, in a file of data_dir
    new CounterService(new CounterTable(undefined, undefined, SqliteValueBook.inDataDir(this.config.data_dir))).attach(cluster);
    // proxy-cache: the node's one cache (index, eviction, PURGE, miss locks), kept here
    attachCacheService(new CacheService(this.config.proxy_cache.zones), cluster);
    // ai-cache (cache.type memory): the node's answer table, kept here
    attachAnswerStoreService(cluster);
    await discovered;
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
      // A retiring worker is on its way out; its replacement stands for its index.
      workers: () => [...this.workers.values()].filter((w) => w.retiring !== true).map((w) => ({
        index: w.index, pid: w.worker.process.pid, revision: w.applied, listening: w.addresses !== undefined,
        ...(w.acceptBlocked !== undefined ? { acceptBlocked: w.acceptBlocked } : {}),
      })),
      // The primary accepts every data-plane connection (round-robin): without a descriptor it accepts none.
      primaryProblem: () => {
        const shortage = descriptorShortage();
        return shortage === undefined ? undefined : `the primary (pid ${process.pid}) cannot accept connections: ${shortage}`;
      },
      // An acknowledged Admin API write may not have come back through the watch yet.
      revision: () => Math.max(this.state.revision, this.admin?.lastWriteRevision ?? 0),
      storeProblem: () => this.store.problem?.(),
      storeReachability: () => this.cluster.reachability(),
      discovery: () => this.discovery.status(),
    };
    // Writes are checked against the plugins the workers run (same whitelist and folders),
    // so the API refuses what the data plane could not serve.
    this.plugins = await PluginRegistry.load({ whitelist: this.config.plugins, dirs: this.config.plugin_dirs, overrides: this.config.plugin_overrides });
    this.syncWasmPlugins();
    this.admin = buildAdminServer({
      config: this.config, store: this.store, log: this.log, status,
      ...(this.config.status === undefined ? { serveStatus: true } : {}),
      // Through getters, so a plugin reload changes what writes are checked against.
      plugins: () => this.plugins,
      reloadPlugins: () => this.reloadPlugins(),
      pluginOrigin: (name) => this.wasmPlugins?.origin(name),
      clusterNodes: () => this.cluster.nodes(this.state.revision),
      sharedStore: isSharedStore(this.store),
      revision: () => this.state.revision,
      workerMetrics: this.workerMetrics,
    });
    this.adminAddress = await this.admin.listen();
    if (this.config.status !== undefined) {
      this.statusServer = new StatusServer(this.config.status.listen, status);
      this.statusAddress = await this.statusServer.listen();
    } else {
      this.statusAddress = this.adminAddress;
    }
  }

  /** The Prometheus export (every worker's metrics, merged). A port it cannot bind is logged, not fatal: metrics are not worth the traffic. */
  private async startMetricsExport(): Promise<void> {
    const prom = this.config.prometheus;
    if (prom === undefined || !prom.enabled) return;
    const server = new MetricsExportServer(prom.export.listen, VERSION, this.workerMetrics);
    this.discovery.registerMetrics(server.registry);
    if (this.cluster.reachability() !== undefined) {
      server.addGauge('gatehouse_etcd_reachable', 'Whether this node reaches etcd (1), or serves its last configuration without it (0)',
        () => (this.cluster.reachability()?.reachable === true ? 1 : 0));
    }
    try {
      this.prometheusAddress = await server.listen();
      this.metricsExport = server;
    } catch (err) {
      this.log.error({ err: (err as Error).message, listen: prom.export.listen }, 'prometheus export not started: cannot listen');
    }
  }

  /**
   * `examples.echo_upstream`: the example upstream of conf/gatehouse.yaml. A port it cannot
   * bind fails the start: the example routes would answer 502, which is what the block exists to prevent.
   */
  private async startEchoUpstream(): Promise<void> {
    const echo = this.config.examples.echo_upstream;
    if (echo === undefined) return;
    const server = new EchoUpstream(echo.listen);
    try {
      this.echoAddress = await server.listen();
    } catch (err) {
      throw new GatehouseError('GH_ERR_CONFIG_INVALID',
        `examples.echo_upstream.listen: cannot listen on ${echo.listen.host}:${echo.listen.port}: ${(err as Error).message}`, { cause: err });
    }
    this.echoUpstream = server;
    this.log.warn({ listen: this.echoAddress },
      'example echo upstream started (examples.echo_upstream in config.yaml; leave it out in production)');
  }

  /**
   * The primary's registry knows the wasm plugins (their names, stages, schemas) so Admin
   * API writes binding them are checked; it runs none (no module is compiled here).
   * Synchronous for the primary: a plugin published by a write is known before the write
   * answers, so the next write may bind it.
   */
  private wasmPlugins: WasmPluginSet | undefined;

  private syncWasmPlugins(): void {
    this.wasmPlugins ??= new WasmPluginSet({
      runsVms: false, callTimeoutMs: this.config.wasm.call_timeout_ms, memoryLimitBytes: this.config.wasm.memory_limit_mb * 1024 * 1024,
      services: workerServices(() => undefined), log: this.log,
    });
    void this.wasmPlugins.sync(this.plugins, [
      ...configSources(this.config, this.log),
      ...storeSources(this.state.list('custom_plugins'), () => undefined),
    ]);
  }

  private watchStore(): void {
    this.stopWatch?.();
    this.stopWatch = this.store.watch(this.state.revision, (ev) => {
      this.state.applyEvent(ev);
      if (ev.type === 'reset' || (ev.type === 'put' ? ev.object.kind : ev.kind) === 'custom_plugins') this.syncWasmPlugins();
      if (this.queued.length === 0) setImmediate(() => this.flush());
      this.queued.push(ev);
    });
  }

  private flush(): void {
    const events = this.queued;
    this.queued = [];
    this.cluster.applied(this.state);
    // binaries named by the change (cluster mode) and the first nodes of services it newly names, before the workers hear of it
    const ready = whenAll(this.cluster.prepare(events), this.discovery.want(wantedServices(this.state)));
    if (ready === undefined && this.preparing === 0) {
      this.broadcast({ type: 'events', events });
      return;
    }
    this.preparing++;
    this.broadcasts = this.broadcasts.then(() => ready).then(() => this.broadcast({ type: 'events', events }))
      .finally(() => { this.preparing--; });
  }

  private broadcast(msg: ToWorker): void {
    for (const info of this.workers.values()) if (info.worker.isConnected()) info.worker.send(msg);
  }

  private fork(index: number, replaces?: WorkerInfo): void {
    const worker = cluster.fork({ GATEHOUSE_WORKER_INDEX: String(index) });
    const info: WorkerInfo = { worker, index, applied: 0, lastPong: Date.now(), handoffs: new HandoffTracker(worker), replaces };
    this.workers.set(worker.id, info);
    worker.on('message', (msg: ToPrimary) => this.onMessage(info, msg));
    worker.on('exit', (code, signal) => {
      // node's cluster code drops a worker from the round-robin at its disconnect, or at its
      // exit when the disconnect waits for a handle acknowledgement that never comes (the
      // worker died with a connection on its way): either way it is out before these events.
      if (!worker.isConnected()) this.takeBackConnections(info);
      this.onExit(info, code, signal);
    });
    worker.on('disconnect', () => this.takeBackConnections(info));
    // An IPC write to a worker that just died (EPIPE) is reported here; without a listener it would end the primary.
    worker.on('error', (err: Error) => this.log.warn({ worker: index, err: err.message }, 'worker IPC error'));
  }

  /** Connections handed to a worker that went away before taking them go to the other workers. */
  private takeBackConnections(info: WorkerInfo): void {
    const othersListening = [...this.workers.values()].some((w) => w !== info && w.addresses !== undefined && w.worker.isConnected());
    const released = info.handoffs.release(othersListening);
    if (released > 0) {
      this.log.warn({ worker: info.index, connections: released, handed_to_others: othersListening },
        'connections passed to a worker that went away were taken back');
    }
  }

  /** A worker hit an uncaught error: it keeps serving until its replacement listens, then drains (messages 'sick', 'listening'). */
  private replace(info: WorkerInfo, reason: string): void {
    if (info.retiring === true || this.shuttingDown) return;
    info.retiring = true;
    const delay = this.restartDelay();
    this.log.error({ worker: info.index, worker_pid: info.worker.process.pid, err: reason, restart_in_ms: delay },
      'worker hit an uncaught error; it is replaced, then drains its requests and exits');
    setTimeout(() => { if (!this.shuttingDown) this.fork(info.index, info); }, delay).unref();
    setTimeout(() => this.retire(info), delay + REPLACEMENT_WAIT_MS).unref();
  }

  private retire(info: WorkerInfo): void {
    if (!info.worker.isConnected() || info.worker.isDead()) return;
    info.worker.send({ type: 'drain', timeoutMs: this.config.node.drain_timeout * 1000 } satisfies ToWorker);
  }

  /** Restart backoff: 200 ms after one failure, doubling up to 5 s while failures repeat; a failure counts for 30 s. */
  private restartDelay(): number {
    this.crashes++;
    setTimeout(() => { this.crashes = Math.max(0, this.crashes - 1); }, 30_000).unref();
    return Math.min(5_000, 100 * 2 ** Math.min(this.crashes, 6));
  }

  private onMessage(info: WorkerInfo, msg: ToPrimary): void {
    switch (msg.type) {
      case 'hello':
        // Queued events not yet broadcast are already in `state`; the worker must not see them twice.
        info.pluginGeneration = this.pluginGeneration;
        info.worker.send({ type: 'init', config: this.config, state: this.state.toStoreState(), discovery: this.discovery.current() } satisfies ToWorker);
        return;
      case 'listening':
        info.addresses = msg.addresses;
        info.stream = msg.stream;
        if (info.replaces !== undefined) this.retire(info.replaces);
        // A plugin reload sent while it was starting was ignored: catch up now.
        if ((info.pluginGeneration ?? 0) < this.pluginGeneration) this.sendPluginReload(info);
        this.maybeAnnounce();
        return;
      case 'plugins-reloaded':
        info.pluginGeneration = Math.max(info.pluginGeneration ?? 0, msg.generation);
        return;
      case 'applied':
        info.applied = msg.revision;
        this.cluster.workersApplied(Math.min(...[...this.workers.values()].filter((w) => w.retiring !== true).map((w) => w.applied)));
        return;
      case 'pong':
        info.lastPong = Date.now();
        return;
      case 'accept-blocked':
        info.acceptBlocked = msg.reason;
        this.log.error({ worker: info.index, worker_pid: info.worker.process.pid, reason: msg.reason }, 'worker cannot accept connections; retrying');
        return;
      case 'accept-resumed':
        info.acceptBlocked = undefined;
        this.log.warn({ worker: info.index, worker_pid: info.worker.process.pid }, 'worker accepts connections again');
        return;
      case 'sick':
        this.replace(info, msg.reason);
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
      listen: all[0]!.addresses, admin: this.adminAddress, status: this.statusAddress, prometheus: this.prometheusAddress,
      ...(this.echoAddress !== undefined ? { echo_upstream: this.echoAddress } : {}),
      ...(this.config.stream_proxy !== undefined ? { stream: streamAddresses(all.flatMap((w) => w.stream ?? [])) } : {}),
      workers: all.length, store: this.config.store.type, revision: this.state.revision,
    }, 'gatehouse started');
  }

  private onExit(info: WorkerInfo, code: number | null, signal: string | null): void {
    this.workers.delete(info.worker.id);
    if (this.shuttingDown) return;
    if (info.retiring === true) {
      this.log.info({ worker: info.index, worker_pid: info.worker.process.pid, code, signal }, 'replaced worker exited');
      return;
    }
    const delay = this.restartDelay();
    this.log.error({ worker: info.index, code, signal, restart_in_ms: delay }, 'worker exited; restarting it');
    setTimeout(() => {
      if (!this.shuttingDown) this.fork(info.index);
    }, delay).unref();
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

  /** SIGHUP / `gatehouse reload`: re-reads the store's source, the log level and the plugins (reloadPlugins); listeners stay. */
  async reload(): Promise<void> {
    try {
      const next = await loadNodeConfig(this.config.file);
      setLogLevel(next.log.level);
      // keys and allow list apply at once; a changed listen address needs a restart
      this.admin?.updateAccess(resolveAdminKeys(next, this.log), next.admin.allow);
      // A plugin that cannot load keeps the previous plugins; the store is reloaded anyway.
      await this.reloadPlugins(next).catch((err: Error) =>
        this.log.error({ err: err.message }, 'plugin reload failed; the previous plugins keep running'));
      const state = await this.store.load();
      this.state = ConfigState.fromStoreState(state);
      this.watchStore();
      await this.discovery.want(wantedServices(this.state));
      this.broadcast({ type: 'events', events: [{ type: 'reset', state }] });
      this.log.info({ revision: state.revision }, 'configuration reloaded');
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'reload failed; the running configuration is kept');
    }
  }

  /**
   * `PUT /apisix/admin/plugins/reload` and SIGHUP: re-reads config.yaml's `plugins` and
   * `plugin_dirs` (unless `next` is the config just re-read), loads the plugins anew in
   * this process (the Admin API then checks against them), and has every worker load
   * them too (`reload-plugins`, with a new generation so module code is re-imported).
   * Resolves once every worker confirmed, or after PLUGIN_RELOAD_WAIT_MS. Throws, and
   * changes nothing, when the config or a plugin module cannot be loaded.
   */
  reloadPlugins(next?: NodeConfig): Promise<void> {
    const run = this.pluginReloads.then(async () => {
      const conf = next ?? await loadNodeConfig(this.config.file);
      const generation = this.pluginGeneration + 1;
      this.log.warn({ plugins: conf.plugins ?? 'all', plugin_dirs: conf.plugin_dirs ?? [], generation }, 'start to hot reload plugins');
      const registry = await PluginRegistry.load({ whitelist: conf.plugins, dirs: conf.plugin_dirs, overrides: conf.plugin_overrides, generation });
      const old = this.plugins;
      this.plugins = registry;
      this.pluginGeneration = generation;
      // A worker forked from now on starts with these.
      this.config = { ...this.config, plugins: conf.plugins, plugin_dirs: conf.plugin_dirs, plugin_overrides: conf.plugin_overrides, wasm: conf.wasm };
      this.syncWasmPlugins();
      const waiting = [...this.workers.values()].filter((w) => w.addresses !== undefined && w.worker.isConnected());
      for (const info of waiting) this.sendPluginReload(info);
      const deadline = Date.now() + PLUGIN_RELOAD_WAIT_MS;
      const late = (): WorkerInfo[] => waiting.filter((w) => this.workers.has(w.worker.id) && (w.pluginGeneration ?? 0) < generation);
      while (late().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const missing = late();
      if (missing.length > 0) {
        this.log.error({ generation, workers: missing.map((w) => w.index) }, 'plugin reload not confirmed by every worker in time');
      }
      this.log.warn({ generation, plugins: registry.list().length }, `load plugin times: ${generation + 1}`);
      setTimeout(() => void old?.destroyAll(), 5_000).unref();
    });
    this.pluginReloads = run.catch(() => undefined);
    return run;
  }

  private sendPluginReload(info: WorkerInfo): void {
    if (!info.worker.isConnected()) return;
    info.worker.send({
      type: 'reload-plugins', plugins: this.config.plugins, pluginDirs: this.config.plugin_dirs, pluginOverrides: this.config.plugin_overrides,
      wasm: this.config.wasm, generation: this.pluginGeneration,
    } satisfies ToWorker);
  }

  async shutdown(graceful: boolean, exitCode = 0): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    this.stopWatch?.();
    await Promise.all([this.admin?.close(), this.statusServer?.close(), this.metricsExport?.close()]);
    const timeoutMs = this.config.node.drain_timeout * 1000;
    this.log.info({ graceful }, graceful ? 'draining in-flight requests, then exiting' : 'stopping now');
    const exits = [...this.workers.values()].map((info) => new Promise<void>((resolve) => {
      if (info.worker.isDead()) return resolve();
      info.worker.once('exit', (code: number | null, signal: string | null) => {
        this.log.info({ worker: info.index, worker_pid: info.worker.process.pid, code, signal }, 'worker stopped');
        resolve();
      });
      if (graceful && info.worker.isConnected()) info.worker.send({ type: 'drain', timeoutMs } satisfies ToWorker);
      else info.worker.process.kill('SIGKILL');
    }));
    const forceAfter = setTimeout(() => {
      if (graceful) this.log.error({ workers: [...this.workers.values()].map((w) => w.index) }, 'workers still running after the drain; killing them');
      for (const info of this.workers.values()) info.worker.process.kill('SIGKILL');
    }, graceful ? timeoutMs + 5_000 : 2_000);
    await Promise.all(exits);
    clearTimeout(forceAfter);
    // after the workers: requests they were still draining may be proxied to it
    await this.echoUpstream?.close();
    this.discovery.close();
    await this.cluster.close().catch(() => undefined);
    await this.store.close().catch(() => undefined);
    rmSync(this.pidFile, { force: true });
    process.exit(exitCode);
  }
}

/** Settles when every given promise has; undefined when there is none to wait for. */
function whenAll(...waits: (Promise<void> | undefined)[]): Promise<void> | undefined {
  const pending = waits.filter((w): w is Promise<void> => w !== undefined);
  return pending.length === 0 ? undefined : Promise.all(pending).then(() => undefined);
}

/** Each stream listener once (every worker reports the TCP ones it shares). */
function streamAddresses(all: StreamBoundAddress[]): StreamBoundAddress[] {
  const seen = new Map<string, StreamBoundAddress>();
  for (const a of all) seen.set(`${a.protocol}|${a.host}|${a.port}`, a);
  return [...seen.values()];
}
