// What instrumentModule refuses before rewriting anything: options out of range, imports
// from the module name the host reserves for itself, and memories it cannot bound.

import { WasmModuleError } from './bytes.js';
import type { MemoryLimits, ModuleStructure } from './reader.js';

const PAGE_BYTES = 65536;
export const RESERVED_IMPORT_MODULE = 'gatehouse';

export interface InstrumentOptions {
  /** Every memory gets at most this many 64 KiB pages (1..65536). */
  memoryMaxPages: number;
  /** Loop iterations between two calls of deadline_check (1..2^31-1). */
  checkInterval: number;
}

export function checkOptions({ memoryMaxPages, checkInterval }: InstrumentOptions): void {
  if (!Number.isInteger(memoryMaxPages) || memoryMaxPages < 1 || memoryMaxPages > 65536) {
    throw new RangeError(`memoryMaxPages must be an integer from 1 to 65536, got ${memoryMaxPages}`);
  }
  if (!Number.isInteger(checkInterval) || checkInterval < 1 || checkInterval > 0x7fffffff) {
    throw new RangeError(`checkInterval must be an integer from 1 to 2147483647, got ${checkInterval}`);
  }
}

function mebibytes(pages: number): string {
  const value = (pages * PAGE_BYTES) / (1024 * 1024);
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

export function checkMemoryLimits(module: ModuleStructure, maxPages: number): void {
  const memories: Array<[MemoryLimits, string]> = [
    ...module.imports.filter((i) => i.memory).map((i): [MemoryLimits, string] => [i.memory!, `imported memory ${i.module}.${i.name}`]),
    ...module.memories.map((m, i): [MemoryLimits, string] => [m, `memory ${i}`]),
  ];
  for (const [memory, what] of memories) {
    if (memory.shared) throw new WasmModuleError(`${what} is shared (threads), which is not supported`);
    if (memory.initialPages > maxPages) {
      throw new WasmModuleError(`${what} declares ${memory.initialPages} pages (${mebibytes(memory.initialPages)} MiB) of initial memory, over the limit of ${mebibytes(maxPages)} MiB`);
    }
  }
}

export function checkReservedImports(module: ModuleStructure): void {
  const reserved = module.imports.find((i) => i.module === RESERVED_IMPORT_MODULE);
  if (reserved) {
    throw new WasmModuleError(`import ${reserved.module}.${reserved.name}: the import module "${RESERVED_IMPORT_MODULE}" is reserved for the host`);
  }
}
