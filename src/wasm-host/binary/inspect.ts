// What a proxy-wasm loader needs to know about a module before instantiating it: which ABI
// it speaks, how it starts, which allocator the host calls, and its memory.

import { parseModule, type ExternalKind, type ModuleStructure } from './reader.js';

export type AbiVersion = '0.1.0' | '0.2.0' | '0.2.1' | '0.2.100';
export type StartStyle = 'start-section' | '_initialize' | '_start' | 'none';
export type Allocator = 'malloc' | 'proxy_on_memory_allocate';

export interface MemoryInfo {
  initialPages: number;
  /** The declared maximum (after instrumentation: the capped one); undefined when unbounded. */
  maxPages: number | undefined;
  /** Imported memories are supplied by the host, which must give one no larger than maxPages. */
  imported: boolean;
  shared: boolean;
}

export interface ModuleInfo {
  abiVersion: AbiVersion | undefined;
  startStyle: StartStyle;
  /** True when a start section runs at instantiation in addition to startStyle's export. */
  hasStartSection: boolean;
  allocator: Allocator | undefined;
  imports: Array<{ module: string; name: string; kind: ExternalKind }>;
  exports: Array<{ name: string; kind: ExternalKind }>;
  /** The first memory (imported or defined); undefined when the module has none. */
  memory: MemoryInfo | undefined;
  customSections: string[];
}

// When a module carries several markers, the newest wins: SDKs that emit more than one
// (none known) would do so for backwards compatibility.
const ABI_MARKERS: ReadonlyArray<[string, AbiVersion]> = [
  ['proxy_abi_version_0_2_100', '0.2.100'],
  ['proxy_abi_version_0_2_1', '0.2.1'],
  ['proxy_abi_version_0_2_0', '0.2.0'],
  ['proxy_abi_version_0_1_0', '0.1.0'],
];

export function inspectModule(bytes: Uint8Array): ModuleInfo {
  return describeModule(parseModule(bytes));
}

export function describeModule(module: ModuleStructure): ModuleInfo {
  const exportedFunctions = new Set(module.exports.filter((e) => e.kind === 'func').map((e) => e.name));
  const abiVersion = ABI_MARKERS.find(([name]) => exportedFunctions.has(name))?.[1];
  // A WASI reactor's _initialize must run instead of a command's _start; a start section
  // runs on instantiation regardless, so an export, when there is one, is what the host calls.
  let startStyle: StartStyle = 'none';
  if (exportedFunctions.has('_initialize')) startStyle = '_initialize';
  else if (exportedFunctions.has('_start')) startStyle = '_start';
  else if (module.start !== undefined) startStyle = 'start-section';
  let allocator: Allocator | undefined;
  if (exportedFunctions.has('malloc')) allocator = 'malloc';
  else if (exportedFunctions.has('proxy_on_memory_allocate')) allocator = 'proxy_on_memory_allocate';
  return {
    abiVersion,
    startStyle,
    hasStartSection: module.start !== undefined,
    allocator,
    imports: module.imports.map(({ module: m, name, kind }) => ({ module: m, name, kind })),
    exports: module.exports.map(({ name, kind }) => ({ name, kind })),
    memory: firstMemory(module),
    customSections: module.customSections.map((c) => c.name),
  };
}

function firstMemory(module: ModuleStructure): MemoryInfo | undefined {
  const imported = module.imports.find((i) => i.kind === 'memory')?.memory;
  if (imported) return { ...imported, imported: true };
  const defined = module.memories[0];
  return defined ? { ...defined, imported: false } : undefined;
}
