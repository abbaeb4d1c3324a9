import type { Logger } from 'pino';
import type { ContextHost } from './abi/host.js';
import type { GuestMemory } from './abi/guest-memory.js';
import type { WasmFault } from './faults.js';
import type { VmServices } from './services.js';

// The VM as its contexts see it (root-context.ts, stream.ts, properties.ts), so they
// depend on this interface and vm.ts depends on them, without a cycle.

export interface VmOptions {
  /** The plugin's name (logs, metrics, `plugin_name`). */
  readonly pluginName: string;
  /** The root id the module registers (`plugin_root_id`). */
  readonly rootId: string;
  /** Shared data and queues are scoped by it. */
  readonly vmId: string;
  readonly vmConfiguration: Buffer;
  readonly environ: readonly string[];
  /** Deadline of one guest call (instrumented loops check it). */
  readonly callTimeoutMs: number;
  /** Linear memory past this many bytes retires the VM after the call. */
  readonly memoryLimitBytes: number;
  readonly log: Logger;
  readonly services: VmServices;
}

export type GuestExport = (...args: number[]) => number | undefined;

/** The callbacks the host calls, looked up once (an export a module lacks is undefined and skipped). */
export interface GuestCallbacks {
  readonly contextCreate: GuestExport;
  readonly vmStart: GuestExport | undefined;
  readonly configure: GuestExport | undefined;
  readonly requestHeaders: GuestExport | undefined;
  readonly requestBody: GuestExport | undefined;
  readonly responseHeaders: GuestExport | undefined;
  readonly responseBody: GuestExport | undefined;
  readonly done: GuestExport | undefined;
  readonly log: GuestExport | undefined;
  readonly delete: GuestExport | undefined;
  readonly tick: GuestExport | undefined;
  readonly httpCallResponse: GuestExport | undefined;
  readonly queueReady: GuestExport | undefined;
}

export interface VmHandle {
  readonly opts: VmOptions;
  readonly cb: GuestCallbacks;
  readonly memory: GuestMemory;
  readonly vmConfiguration: Buffer;
  readonly broken: WasmFault | undefined;
  invoke(name: string, fn: GuestExport, ctx: ContextHost | undefined, a: number, b?: number, c?: number, d?: number, e?: number): number;
  allocateId(): number;
  register(ctx: ContextHost): void;
  unregister(ctx: ContextHost): void;
  /** Takes no new request from now on (the next one builds a fresh VM); what runs finishes here. */
  retire(reason: string): void;
}
