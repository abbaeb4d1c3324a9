import type { ConfigView } from '../contracts/store.js';
import { ConfigClusters } from './clusters.js';
import { localMetrics, localQueues, sharedDataOf } from './local-services.js';
import type { VmServices } from './services.js';

export { WasmPluginSet, configSources, storeSources, type WasmPluginSource } from './plugin-set.js';
export { checkModule, prepareModule, type ModuleReport } from './module-check.js';
export { WasmLoadError } from './faults.js';

/** A worker's services for its VMs: http_call to the configured upstreams, process-local shared state and metrics. */
export function workerServices(view: () => ConfigView | undefined): VmServices {
  const clusters = new ConfigClusters(view);
  return {
    httpCall: (req, ctx) => clusters.call(req, ctx),
    clusterName: (ctx) => clusters.clusterName(ctx),
    sharedData: sharedDataOf,
    queues: localQueues,
    metrics: localMetrics,
  };
}
