import { createHash } from 'node:crypto';
import { pino } from 'pino';
import { WasmLoadError } from './faults.js';
import { abiVersionOf, WasmVm } from './vm.js';
import { sharedDataOf, localQueues, localMetrics } from './local-services.js';
import type { AbiVersion } from './abi/constants.js';
import type { VmServices } from './services.js';
import { instrumentModule, START_EXPORT } from './binary/instrument.js';
import { WasmModuleError } from './binary/bytes.js';

export interface ModuleLimits {
  /** Deadline of one guest call. */
  readonly callTimeoutMs: number;
  /** Linear memory a VM may use. */
  readonly memoryLimitBytes: number;
}

export interface ModuleReport {
  readonly sha256: string;
  readonly size: number;
  readonly abi: AbiVersion;
  readonly imports: readonly string[];
  readonly exports: readonly string[];
}

const silent = pino({ level: 'silent' });

/** Services for a check run: no upstream to call (http_call answers BAD_ARGUMENT). */
const checkServices: VmServices = {
  httpCall: () => 2,
  sharedData: () => sharedDataOf('\0plugin-check'),
  queues: localQueues,
  metrics: localMetrics,
};

/** Loop iterations between two deadline checks: a clock read every 10,000 iterations costs nothing measurable. */
const CHECK_INTERVAL = 10_000;

/**
 * What every module goes through before it is compiled, wherever it is loaded (workers,
 * publish checks, `plugin check`): the deadline instrumentation and the memory cap
 * (binary/instrument.ts). A module it cannot handle is a WasmLoadError with the reason.
 */
export function prepareModule(bytes: Uint8Array, memoryLimitBytes: number): Uint8Array {
  try {
    return instrumentModule(bytes, { memoryMaxPages: Math.max(1, Math.floor(memoryLimitBytes / 65536)), checkInterval: CHECK_INTERVAL }).bytes;
  } catch (err) {
    if (err instanceof WasmModuleError) throw new WasmLoadError(`not a module the gateway can run: ${err.message}`);
    throw err;
  }
}

/** Compiles a module (a WasmLoadError with the reason when it is no valid WebAssembly). */
export async function compileModule(bytes: Uint8Array): Promise<WebAssembly.Module> {
  try {
    return await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
  } catch (err) {
    throw new WasmLoadError(`not a valid WebAssembly module: ${(err as Error).message}`);
  }
}

/**
 * What publishing checks, the way the gateway will run the plugin: it compiles, declares
 * a known ABI, links against the host, starts, and accepts its configuration
 * (`{}` unless one is given) in on_configure. No request runs through it (that is
 * `gatehouse plugin check`). Throws WasmLoadError with the reason.
 */
export async function checkModule(bytes: Uint8Array, opts: ModuleLimits & { rootId: string; configuration?: Buffer; pluginName?: string }): Promise<ModuleReport> {
  // WebAssembly's own words for a binary that is no module at all, before the rewriter's
  if (!WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>)) await compileModule(bytes);
  const module = await compileModule(prepareModule(bytes, opts.memoryLimitBytes));
  const abi = abiVersionOf(module);
  if (abi === undefined) throw new WasmLoadError('missing or unknown proxy-wasm ABI version (no proxy_abi_version_0_1_0, _0_2_0, _0_2_1 or _0_2_100 export)');
  const vm = WasmVm.create(module, {
    pluginName: opts.pluginName ?? opts.rootId, rootId: opts.rootId, vmId: '\0plugin-check', vmConfiguration: Buffer.alloc(0),
    environ: [], callTimeoutMs: opts.callTimeoutMs, memoryLimitBytes: opts.memoryLimitBytes, log: silent, services: checkServices,
  });
  try {
    const root = vm.root(opts.configuration ?? Buffer.from('{}'));
    if (!root.configured) throw new WasmLoadError('the plugin refused its configuration: proxy_on_configure returned false');
  } catch (err) {
    if (err instanceof WasmLoadError) throw err;
    throw new WasmLoadError((err as Error).message);
  } finally {
    vm.dispose();
  }
  return {
    sha256: createHash('sha256').update(bytes).digest('hex'),
    size: bytes.length,
    abi,
    imports: WebAssembly.Module.imports(module).filter((i) => i.module !== 'gatehouse').map((i) => `${i.module}.${i.name}`),
    exports: WebAssembly.Module.exports(module).map((e) => e.name).filter((n) => n !== START_EXPORT),
  };
}
