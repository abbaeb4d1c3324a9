// The primary's Admin API: the server, its write checks, and every route beyond the
// resources (plugins, marketplace, cluster nodes, session, metrics, plugin chain). Kept
// apart from the primary's process supervision so each reads on its own; everything
// that changes at run time (the plugin registry, the cluster's nodes) is passed as a
// getter, so a plugin reload or a membership change is seen by the next request.
import type { NodeConfig } from '../contracts/node-config.js';
import type { ConfigStore } from '../contracts/store.js';
import type { Logger } from '../core/logger.js';
import { GatehouseError } from '../core/errors.js';
import { compileExpr } from '../core/expr/index.js';
import { AdminServer } from '../admin-api/server.js';
import { resolveAdminKeys } from '../admin-api/keys.js';
import type { StatusSource } from '../admin-api/status-server.js';
import { pluginsRoute } from '../admin-api/resources/plugins.js';
import { pluginChainRoute } from '../admin-api/plugin-chain.js';
import { importRoute } from '../admin-api/custom-plugins/import.js';
import { CustomPluginsApi } from '../admin-api/custom-plugins/route.js';
import { bindingsByPlugin } from '../admin-api/custom-plugins/bindings.js';
import { clusterNodesRoute } from '../admin-api/cluster-nodes.js';
import { sessionRoute } from '../admin-api/session.js';
import { metricsSummaryRoute } from '../admin-api/metrics-summary.js';
import type { PluginRegistry } from '../plugin-runtime/registry.js';
import { redactPluginSecrets } from '../plugin-runtime/secret-fields.js';
import type { ClusterNodeView } from '../cluster/membership.js';
import type { ClusterScrape } from '../observability/export-server.js';

export interface AdminWiring {
  config: NodeConfig;
  store: ConfigStore;
  log: Logger;
  status: StatusSource;
  /** Serve `/status` on the admin listener (no separate status listener is configured). */
  serveStatus?: true;
  plugins: () => PluginRegistry;
  reloadPlugins: () => Promise<void>;
  /** Where a wasm plugin comes from: the node config, the store (the marketplace), or undefined for a built-in. */
  pluginOrigin: (name: string) => 'config' | 'store' | undefined;
  clusterNodes: () => Promise<ClusterNodeView[]>;
  /** The store is shared by several nodes (etcd): the metrics summary lists them. */
  sharedStore: boolean;
  revision: () => number;
  workerMetrics: ClusterScrape;
}

export function buildAdminServer(w: AdminWiring): AdminServer {
  const admin = new AdminServer({
    config: w.config, store: w.store, keys: resolveAdminKeys(w.config, w.log),
    validate: {
      checkPlugins: (plugins, where) => w.plugins().checkPlugins(plugins, where),
      // Its messages are already APISIX's (`invalid plugin name`, `invalid configuration: ...`);
      // as a GatehouseError validateResource passes them on without another prefix.
      checkMetadata: (name, value) => {
        try {
          w.plugins().checkMetadata(name, value);
        } catch (e) {
          throw new GatehouseError('GH_ERR_CONFIG_INVALID', (e as Error).message, { cause: e });
        }
      },
      checkExpr: (rule) => { compileExpr(rule); },
      // refused when written (a 400 naming the field) rather than a 503 on every request
      discoveryTypes: Object.keys(w.config.discovery),
    },
    ...(w.serveStatus === true ? { status: w.status } : {}),
    redactPlugins: (plugins, schemaType) => redactPluginSecrets(plugins, (name) => w.plugins().get(name)?.plugin, schemaType),
  });
  admin.addRoute('plugins', pluginsRoute({ registry: w.plugins, reload: w.reloadPlugins, bindings: () => bindingsByPlugin(w.store) }));
  const customPlugins = new CustomPluginsApi({
    store: w.store,
    // the registry holds the marketplace's own plugins too: those are not built-ins
    isBuiltIn: (name) => w.plugins().has(name) && w.pluginOrigin(name) !== 'store',
    checkLimits: { callTimeoutMs: w.config.wasm.call_timeout_ms, memoryLimitBytes: w.config.wasm.memory_limit_mb * 1024 * 1024 },
  });
  admin.addRoute('custom_plugins', customPlugins.handle);
  admin.addUploadRoute('custom_plugins', customPlugins.upload);
  admin.addRawBodyRoute('POST', 'custom_plugins/import', importRoute({ api: customPlugins, store: w.store }));
  admin.addRoute('cluster', clusterNodesRoute({ nodes: w.clusterNodes, revision: w.revision }));
  admin.addRoute('session', sessionRoute());
  admin.addRoute('metrics', metricsSummaryRoute({
    scrape: w.workerMetrics, status: w.status,
    ...(w.sharedStore ? { clusterNodes: w.clusterNodes } : {}),
  }));
  admin.addSubresource('routes', 'plugin-chain', pluginChainRoute({ registry: w.plugins, store: w.store, routerMode: w.config.router?.http }));
  return admin;
}
