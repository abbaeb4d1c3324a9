import type { NodeConfig } from '../contracts/node-config.js';
import type { StoreEvent, StoreState } from '../contracts/store.js';
import type { BoundAddress } from '../data-plane/server.js';

/** Primary → worker. */
export type ToWorker =
  | { type: 'init'; config: NodeConfig; state: StoreState }
  | { type: 'events'; events: StoreEvent[] }
  | { type: 'drain'; timeoutMs: number }
  /** Re-read the whitelist and re-import plugin code; `plugins`/`pluginDirs` come from the re-read config.yaml. */
  | { type: 'reload-plugins'; plugins: string[] | undefined; pluginDirs: string[] | undefined; generation: number }
  | { type: 'ping'; seq: number };

/** Worker → primary. */
export type ToPrimary =
  | { type: 'hello' }
  | { type: 'listening'; addresses: BoundAddress[] }
  | { type: 'applied'; revision: number }
  | { type: 'plugins-reloaded'; generation: number; count: number }
  | { type: 'pong'; seq: number }
  | { type: 'fatal'; message: string };
