import type { CounterOpsMessage, CounterResultsMessage } from '../counters/wire.js';
export type { CounterOpsMessage, CounterResultsMessage };
import type { NodeConfig } from '../contracts/node-config.js';
import type { StoreEvent, StoreState } from '../contracts/store.js';
import type { BoundAddress, StreamBoundAddress } from '../data-plane/server.js';
import type { NodeSetChange } from '../discovery/index.js';

/** Primary → worker. */
export type ToWorker =
  | CounterResultsMessage
  /** `discovery`: every node set service discovery knows now. */
  | { type: 'init'; config: NodeConfig; state: StoreState; discovery: NodeSetChange[] }
  | { type: 'events'; events: StoreEvent[] }
  /** Node sets service discovery found changed (a tick's worth); applied without a snapshot rebuild. */
  | { type: 'discovery'; changes: NodeSetChange[] }
  | { type: 'drain'; timeoutMs: number }
  /** Re-read the whitelist and re-import plugin code; `plugins`/`pluginDirs` come from the re-read config.yaml. */
  | { type: 'reload-plugins'; plugins: string[] | undefined; pluginDirs: string[] | undefined; pluginOverrides: string[]; wasm: NodeConfig['wasm']; generation: number }
  | { type: 'ping'; seq: number };

/** Worker → primary. */
export type ToPrimary =
  | CounterOpsMessage
  | { type: 'hello' }
  | { type: 'listening'; addresses: BoundAddress[]; stream: StreamBoundAddress[] }
  | { type: 'applied'; revision: number }
  | { type: 'plugins-reloaded'; generation: number; count: number }
  | { type: 'pong'; seq: number }
  /** It cannot take connections (out of descriptors); `accept-resumed` once it took one again. */
  | { type: 'accept-blocked'; reason: string }
  | { type: 'accept-resumed' }
  /** An uncaught exception or unhandled rejection: replace it, then tell it to drain. */
  | { type: 'sick'; reason: string }
  | { type: 'fatal'; message: string };

/**
 * Shared counters (limit-count, limit-req, limit-conn with policy `local`): the
 * operations a worker queued during one tick, as flat `[id, op, key, a, b]` tuples, and
 * the primary's answers as flat `[id, x, y]` tuples. See src/process/counter-service.ts.
 */
