import type { NodeConfig } from '../contracts/node-config.js';
import type { StoreEvent, StoreState } from '../contracts/store.js';
import type { BoundAddress } from '../data-plane/server.js';

/** Primary → worker. */
export type ToWorker =
  | { type: 'init'; config: NodeConfig; state: StoreState }
  | { type: 'events'; events: StoreEvent[] }
  | { type: 'drain'; timeoutMs: number }
  | { type: 'ping'; seq: number };

/** Worker → primary. */
export type ToPrimary =
  | { type: 'hello' }
  | { type: 'listening'; addresses: BoundAddress[] }
  | { type: 'applied'; revision: number }
  | { type: 'pong'; seq: number }
  | { type: 'fatal'; message: string };
