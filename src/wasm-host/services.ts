import type { PluginContext } from '../contracts/plugin.js';
import type { CallResponse, HttpCallRequest } from './abi/host.js';

// What a VM needs from the rest of the worker: http_call's way to upstreams, shared data
// and queues (per vm id, per worker process), and the metrics registry. The worker wires
// real ones (wasm-host/index.ts); tests may wire their own upstream resolver.

export interface SharedDataStore {
  get(key: string): { value: Buffer; cas: number } | undefined;
  /** cas 0 writes unconditionally; another cas must match the stored one (else CAS_MISMATCH). */
  set(key: string, value: Buffer, cas: number): number;
}

export interface QueueService {
  /** Creates or opens a queue; `onReady` is called (asynchronously) when something is enqueued. */
  register(vmId: string, name: string, onReady: ((queueId: number) => void) | undefined): number;
  resolve(vmId: string, name: string): number | undefined;
  enqueue(vmId: string, id: number, value: Buffer): number;
  dequeue(vmId: string, id: number): Buffer | number;
}

export interface MetricService {
  define(plugin: string, type: number, name: string): number | undefined;
  increment(plugin: string, id: number, delta: bigint): number;
  record(plugin: string, id: number, value: bigint): number;
  get(plugin: string, id: number): bigint | undefined;
}

export interface VmServices {
  /** Starts an http_call: a promise of its response, or a Status (BAD_ARGUMENT: no such cluster). */
  httpCall(req: HttpCallRequest, from: PluginContext | undefined): Promise<CallResponse> | number;
  sharedData(vmId: string): SharedDataStore;
  readonly queues: QueueService;
  readonly metrics: MetricService;
  /** The request's upstream as Envoy names clusters (`outbound|<port>||<upstream>`): Higress's `_match_service_` reads it. */
  clusterName?(ctx: PluginContext): string | undefined;
}
