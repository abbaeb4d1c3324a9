// Node-wide settings built-in plugins read at prepare and request time: they come from
// config.yaml, not from a route, so no Admin API write can raise them. Set once per
// process (primary and each worker) before the plugins are loaded.
import { resolve } from 'node:path';
import type { NodeConfig } from '../contracts/node-config.js';

export interface PluginNodeLimits {
  /** Absolute folder file-logger writes under; every `path` must resolve inside it. */
  logDir: string;
  /** Largest body (raw or decoded) a plugin holds in memory for one request. */
  maxBufferedBodySize: number;
  /** The node shares its configuration with others (store etcd): node-local state is not the deployment's. */
  clusterMode: boolean;
}

export const DEFAULT_MAX_BUFFERED_BODY_SIZE = 8 * 1024 * 1024;

let current: PluginNodeLimits = { logDir: resolve('logs'), maxBufferedBodySize: DEFAULT_MAX_BUFFERED_BODY_SIZE, clusterMode: false };

export function setPluginNodeLimits(config: Pick<NodeConfig, 'log_dir' | 'node'> & { store?: Pick<NodeConfig['store'], 'type'> }): void {
  current = { logDir: config.log_dir, maxBufferedBodySize: config.node.max_buffered_body_size, clusterMode: config.store?.type === 'etcd' };
}

export function pluginNodeLimits(): PluginNodeLimits {
  return current;
}

/** For unit tests: replaces some settings, returns a function restoring the previous ones. */
export function overridePluginNodeLimits(next: Partial<PluginNodeLimits>): () => void {
  const saved = current;
  current = { ...current, ...next };
  return () => { current = saved; };
}
