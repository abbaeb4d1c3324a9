import { logger, setLogFormat, setLogLevel } from '../core/logger.js';
import { ConfigState } from '../config-store/state.js';
import { SnapshotBuilder } from '../data-plane/snapshot.js';
import { DataPlane } from '../data-plane/server.js';
import { VERSION } from '../core/version.js';
import type { NodeConfig } from '../contracts/node-config.js';
import type { ToPrimary, ToWorker } from './messages.js';
import { PluginRegistry } from '../plugin-runtime/registry.js';
import { setPluginNodeLimits } from '../plugin-runtime/node-limits.js';
import { configureProxyCache } from '../proxy-cache/index.js';
import { SecretResolver } from '../secrets/resolver.js';
import { answerClusterScrapes } from '../observability/metrics.js';
import { exportConnectionStats } from '../observability/node-gauges.js';
import { configureSandbox } from '../serverless/sandbox.js';
import { answerDroppedHandoffs } from './cluster-handoff.js';
import { WasmPluginSet, configSources, storeSources, workerServices } from '../wasm-host/index.js';
import type { BlobReader } from '../contracts/store.js';
import { openBlobReader } from '../config-store/blob-reader.js';
import { DiscoveredNodeTable } from '../discovery/index.js';


// A data-plane worker: receives the config from the primary, serves traffic, and
// applies every change by building a new snapshot off the hot path and swapping it in.

function send(msg: ToPrimary): void {
  process.send?.(msg);
}

export function runWorker(): void {
  const index = process.env.GATEHOUSE_WORKER_INDEX ?? '?';
  process.title = `gatehouse: worker ${index}`;
  const log = logger().child({ module: 'worker', worker: Number(index) });
  let plane: DataPlane | undefined;
  let builder: SnapshotBuilder | undefined;
  let state: ConfigState | undefined;
  let registry: PluginRegistry | undefined;
  let pending = false;
  let draining = false;
  let sick = false;
  // The primary's Prometheus export asks every worker for its metrics.
  answerClusterScrapes();
  exportConnectionStats(() => plane?.connectionStats());
  answerDroppedHandoffs({
    blocked: (reason) => {
      log.error({ reason }, 'cannot accept connections; new ones wait in the primary and go to the other workers');
      send({ type: 'accept-blocked', reason });
    },
    resumed: () => send({ type: 'accept-resumed' }),
  });

  // Code that throws outside any request's handling (a timer, an event, a promise nobody
  // awaits) leaves the process in an unknown state: it is logged, the primary starts a
  // replacement and then tells this worker to drain (stop accepting, finish what is in
  // flight within node.drain_timeout, exit) instead of dropping every connection at once.
  const onUncaught = (err: unknown, origin: string): void => {
    log.error({ err, origin, active_requests: plane?.activeRequests ?? 0, revision: state?.revision }, 'uncaught error in a worker');
    if (plane === undefined) {
      send({ type: 'fatal', message: err instanceof Error ? err.message : String(err) });
      process.exit(1);
    }
    if (sick || draining) return;
    sick = true;
    send({ type: 'sick', reason: err instanceof Error ? err.message : String(err) });
  };
  process.on('uncaughtException', (err, origin) => onUncaught(err, origin));
  process.on('unhandledRejection', (reason) => onUncaught(reason, 'unhandledRejection'));

  let resolver: SecretResolver | undefined;
  let nodeConfig: NodeConfig | undefined;
  /**
   * Service discovery's node sets: created from init's copy before init's first await, so a
   * change the primary broadcasts while plugins load is applied, not lost. Changes sent
   * before the primary answered `hello` are already in that copy.
   */
  let discovered: DiscoveredNodeTable | undefined;
  let wasm: WasmPluginSet | undefined;
  /** Opened on first need: a worker reads a custom plugin's binary from the store by its sha256. */
  let blobs: BlobReader | undefined;
  /** Brings the registry's wasm plugins in line with config.yaml and the store; true when they changed. */
  const syncWasm = async (): Promise<boolean> => {
    if (wasm === undefined || registry === undefined || state === undefined || nodeConfig === undefined) return false;
    const current = state;
    return wasm.sync(registry, [
      ...configSources(nodeConfig, log),
      ...storeSources(current.list('custom_plugins'), (sha) => (blobs ??= openBlobReader(nodeConfig!, log))?.get(sha)),
    ]);
  };
  let rebuilding = false;
  let again = false;
  // Secret references are resolved before the build (a Vault lookup is network I/O):
  // the previous snapshot keeps serving meanwhile, and the hot path reads plain values.
  // One rebuild at a time; changes that arrive during one are applied right after it.
  const rebuild = (): void => {
    pending = false;
    if (rebuilding) {
      again = true;
      return;
    }
    rebuilding = true;
    void (async () => {
      do {
        again = false;
        if (plane === undefined || builder === undefined || state === undefined || resolver === undefined) break;
        try {
          // a new or changed wasm plugin: routes binding it are compiled anew
          if (await syncWasm()) builder.setRegistry(registry!);
          await resolver.prepare(state);
          const revision = state.revision;
          plane.apply(builder.build(resolver.view(state)));
          send({ type: 'applied', revision });
        } catch (err) {
          log.error({ err }, 'config change not applied; the previous snapshot keeps serving');
        }
      } while (again);
      rebuilding = false;
    })();
  };

  const init = async (config: NodeConfig, initial: ToWorker & { type: 'init' }): Promise<void> => {
    setLogLevel(config.log.level);
    setLogFormat(config.log.format);
    configureSandbox({ memoryLimitMb: config.serverless.memory_limit_mb, timeoutMs: config.serverless.timeout_ms });
    setPluginNodeLimits(config);
    configureProxyCache(config.proxy_cache);
    state = ConfigState.fromStoreState(initial.state);
    discovered = new DiscoveredNodeTable(Object.keys(config.discovery), log);
    discovered.apply(initial.discovery);
    registry = await PluginRegistry.load({ whitelist: config.plugins, dirs: config.plugin_dirs, overrides: config.plugin_overrides });
    nodeConfig = config;
    wasm = new WasmPluginSet({
      runsVms: true, callTimeoutMs: config.wasm.call_timeout_ms, memoryLimitBytes: config.wasm.memory_limit_mb * 1024 * 1024,
      services: workerServices(() => state), log,
    });
    await syncWasm();
    builder = new SnapshotBuilder({
      defaultTlsProtocols: config.node.tls.protocols,
      tlsCiphers: config.node.tls.ciphers,
      defaultSslId: config.node.tls.default_ssl_id,
      routerMode: config.router?.http,
      discovery: discovered,
    }, registry);
    resolver = new SecretResolver({
      ttlMs: config.node.secrets.ttl * 1000,
      retryMs: config.node.secrets.retry * 1000,
      onExpiry: rebuild,
    });
    await resolver.prepare(state);
    plane = new DataPlane(config, builder.build(resolver.view(state)), VERSION);
    const addresses = await plane.listen();
    const stream = await plane.listenStream(index === '0');
    send({ type: 'listening', addresses, stream });
    send({ type: 'applied', revision: state.revision });
  };

  process.on('message', (msg: ToWorker) => {
    switch (msg.type) {
      case 'init':
        init(msg.config, msg).catch((err: Error) => {
          log.fatal({ err }, 'worker failed to start');
          send({ type: 'fatal', message: err.message });
          process.exit(1);
        });
        return;
      case 'events':
        if (state === undefined) return;
        for (const ev of msg.events) state.applyEvent(ev);
        // Coalesce bursts (an import, a standalone reload) into one rebuild.
        if (!pending) {
          pending = true;
          setImmediate(rebuild);
        }
        return;
      case 'discovery':
        discovered?.apply(msg.changes);
        return;
      case 'reload-plugins':
        void (async () => {
          if (builder === undefined) return;
          // In-flight requests keep the chains of their snapshot (and so the old plugin
          // objects); new requests get the next snapshot, built with the new code.
          const next = await PluginRegistry.load({ whitelist: msg.plugins, dirs: msg.pluginDirs, overrides: msg.pluginOverrides, generation: msg.generation });
          // Two reloads close together may finish loading out of order: never go back to an older one.
          if (next.generation < (registry?.generation ?? 0)) return;
          const old = registry;
          registry = next;
          if (nodeConfig !== undefined) nodeConfig = { ...nodeConfig, wasm: msg.wasm };
          await syncWasm();
          builder.setRegistry(next);
          rebuild();
          send({ type: 'plugins-reloaded', generation: msg.generation, count: next.list().length });
          log.warn({ generation: msg.generation, plugins: next.list().length }, 'plugins reloaded');
          setTimeout(() => void old?.destroyAll(), 5_000).unref();
        })().catch((err: Error) => log.error({ err: err.message }, 'plugin reload failed; the previous plugins keep running'));
        return;
      case 'ping':
        send({ type: 'pong', seq: msg.seq });
        return;
      case 'drain':
        if (draining) return;
        draining = true;
        void (async () => {
          await plane?.close(msg.timeoutMs);
          builder?.close();
          resolver?.close();
          blobs?.close();
          process.exit(0);
        })();
        return;
    }
  });
  // The primary going away means nobody supervises us: stop serving.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'hello' });
}
