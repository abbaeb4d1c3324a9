import type { PluginContext } from '../../contracts/plugin.js';
import type { GuestMemory } from './guest-memory.js';
import type { AbiVersion } from './constants.js';

// What the ABI's host functions (env.ts) need from the VM and from the context whose
// callback is running. The VM (vm.ts) and the HTTP stream (stream.ts) implement these;
// env.ts only decodes guest pointers and encodes results.

/** A root context (one per distinct plugin configuration in a VM). */
export interface RootHost {
  readonly kind: 'root';
  readonly id: number;
  readonly configuration: Buffer;
  setTickPeriod(ms: number): void;
  property(path: readonly string[]): Uint8Array | undefined;
  setProperty(path: readonly string[], value: Buffer): number;
}

/** An HTTP stream (one per request through the plugin). */
export interface StreamHost {
  readonly kind: 'stream';
  readonly id: number;
  readonly root: RootHost;
  /** The request it serves. */
  readonly ctx: PluginContext;
  /** Where the VM keeps it while it is alive (-1 otherwise); the VM's bookkeeping. */
  slot: number;
  /** Flat [name, value, …] with pseudo-headers; undefined when that map is not available now. */
  headerPairs(map: number): string[] | undefined;
  /** A value (repeated ones joined with ","), null when absent, undefined when the map is not available. */
  headerValue(map: number, name: string): string | null | undefined;
  /** Sets (`add`: appends) or, with value undefined, removes; returns a Status. */
  editHeader(map: number, name: string, value: string | undefined, add: boolean): number;
  replaceHeaders(map: number, flat: readonly string[]): number;
  buffer(type: number): Buffer | undefined;
  setBuffer(type: number, start: number, size: number, data: Buffer): number;
  continueStream(type: number): number;
  closeStream(type: number): number;
  sendLocalResponse(status: number, details: string, body: Buffer, headers: readonly string[], grpcStatus: number): number;
  property(path: readonly string[]): Uint8Array | undefined;
  setProperty(path: readonly string[], value: Buffer): number;
  /** `proxy_done`: the stream finishes now (it said "not yet" from on_done). */
  done(): number;
  /** The VM broke: a request waiting on it fails with `err`. */
  abort(err: Error): void;
}

export type ContextHost = RootHost | StreamHost;

/** An http_call response, readable while `proxy_on_http_call_response` runs. */
export interface CallResponse {
  readonly headers: readonly string[];
  readonly body: Buffer;
  readonly trailers: readonly string[];
  readonly status: number;
}

export interface HttpCallRequest {
  readonly cluster: string;
  /** Flat pairs, names lower-cased, with :method, :path and :authority. */
  readonly headers: readonly string[];
  readonly body: Buffer;
  readonly timeoutMs: number;
}

export interface AbiHost {
  readonly memory: GuestMemory;
  readonly abi: AbiVersion;
  readonly vmConfiguration: Buffer;
  /** The effective context: the one whose callback runs, or the one set with proxy_set_effective_context. */
  effective(): ContextHost | undefined;
  setEffective(id: number): number;
  /** Set while proxy_on_http_call_response runs. */
  callResponse(): CallResponse | undefined;
  /** Plugin configuration bytes while on_configure runs (then the root's). */
  log(level: number, message: string): void;
  /** Whether a message at `level` would be written (a message that would not is not even decoded). */
  logEnabled(level: number): boolean;
  logLevel(): number;
  /** Sends an http_call for the effective context's root; a token, or a Status as a negative number. */
  httpCall(req: HttpCallRequest): number;
  sharedGet(key: string): { value: Buffer; cas: number } | undefined;
  sharedSet(key: string, value: Buffer, cas: number): number;
  queueRegister(name: string): number;
  queueResolve(vmId: string, name: string): number | undefined;
  queueEnqueue(id: number, value: Buffer): number;
  queueDequeue(id: number): Buffer | number;
  defineMetric(type: number, name: string): number | undefined;
  incrementMetric(id: number, delta: bigint): number;
  recordMetric(id: number, value: bigint): number;
  getMetric(id: number): bigint | undefined;
  /** The Deadline check the instrumented module calls at loop headers. */
  deadlineCheck(): void;
}
