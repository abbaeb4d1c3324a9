// Parses the structure of a WebAssembly module: where each section is and what the
// sections that a loader cares about declare. Code bodies are located, not decoded
// (opcodes.ts walks them). Anything we could not instrument safely is refused here.

import { ByteReader, WasmModuleError } from './bytes.js';
import { hex, readValueType, walkInstructions } from './opcodes.js';

export type ExternalKind = 'func' | 'table' | 'memory' | 'global' | 'tag';
const KINDS: readonly ExternalKind[] = ['func', 'table', 'memory', 'global', 'tag'];

export const SECTION = {
  custom: 0, type: 1, import: 2, function: 3, table: 4, memory: 5, global: 6, export: 7,
  start: 8, element: 9, code: 10, data: 11, dataCount: 12, tag: 13,
} as const;

/** Position of each known section in the order the binary format requires. */
const SECTION_ORDER: Record<number, number> = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13 };

export function sectionRank(id: number): number {
  return SECTION_ORDER[id] ?? 0;
}

export interface Section {
  id: number;
  /** Offset of the section id byte. */
  headerStart: number;
  /** The payload is bytes [start, end). */
  start: number;
  end: number;
}

export interface FuncType { params: number[]; results: number[] }

export interface MemoryLimits { initialPages: number; maxPages: number | undefined; shared: boolean }

export interface Import {
  module: string;
  name: string;
  kind: ExternalKind;
  /** For a function import: its type index and that type. */
  typeIndex?: number;
  funcType?: FuncType;
  memory?: MemoryLimits;
}

export interface Export { name: string; kind: ExternalKind; index: number }

export interface CustomSection { name: string; start: number; end: number }

export interface ElementSegment { mode: 'active' | 'passive' | 'declarative'; flags: number }

export interface ModuleStructure {
  sections: Section[];
  types: FuncType[];
  imports: Import[];
  importedFunctionCount: number;
  importedGlobalCount: number;
  /** Type index of each defined function. */
  functionTypes: number[];
  tableCount: number;
  memories: MemoryLimits[];
  globalCount: number;
  exports: Export[];
  start: number | undefined;
  elements: ElementSegment[];
  dataCount: number | undefined;
  /** [start, end) of each code body after its size field: locals then instructions. */
  codeBodies: Array<{ start: number; end: number }>;
  customSections: CustomSection[];
}

const MAGIC = [0x00, 0x61, 0x73, 0x6d];
const PAGE_LIMIT_32 = 65536;

export function parseModule(bytes: Uint8Array): ModuleStructure {
  if (bytes.length < 8 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new WasmModuleError('not a WebAssembly module (bad magic)', 0);
  }
  const version = bytes[4]! | (bytes[5]! << 8) | (bytes[6]! << 16) | (bytes[7]! << 24);
  if (version !== 1) {
    throw new WasmModuleError(`unsupported WebAssembly binary version ${version} (only 1, not the component model)`, 4);
  }
  const module: ModuleStructure = {
    sections: [], types: [], imports: [], importedFunctionCount: 0, importedGlobalCount: 0, functionTypes: [],
    tableCount: 0, memories: [], globalCount: 0, exports: [], start: undefined, elements: [],
    dataCount: undefined, codeBodies: [], customSections: [],
  };
  const r = new ByteReader(bytes, 8);
  let lastRank = 0;
  while (!r.atEnd()) {
    const headerStart = r.pos;
    r.context = 'section header';
    const id = r.u8();
    const size = r.u32();
    const start = r.pos;
    if (start + size > bytes.length) {
      throw new WasmModuleError(`truncated section ${id} at byte ${headerStart}: it declares ${size} bytes, ${bytes.length - start} remain`, headerStart);
    }
    if (id > 13) throw new WasmModuleError(`unknown section id ${id} at byte ${headerStart}`, headerStart);
    const rank = sectionRank(id);
    if (rank !== 0) {
      if (rank <= lastRank) throw new WasmModuleError(`section ${id} at byte ${headerStart} is duplicated or out of order`, headerStart);
      lastRank = rank;
    }
    const section: Section = { id, headerStart, start, end: start + size };
    module.sections.push(section);
    const payload = new ByteReader(bytes, start, section.end);
    payload.context = `section ${id}`;
    readSection(payload, section, module);
    if (payload.pos !== section.end) {
      throw new WasmModuleError(`section ${id} at byte ${headerStart} has ${section.end - payload.pos} unexpected trailing bytes`, payload.pos);
    }
    r.pos = section.end;
  }
  if (module.functionTypes.length !== module.codeBodies.length) {
    throw new WasmModuleError(`the function section declares ${module.functionTypes.length} functions but the code section has ${module.codeBodies.length} bodies`);
  }
  return module;
}

function readSection(r: ByteReader, section: Section, module: ModuleStructure): void {
  switch (section.id) {
    case SECTION.custom: {
      const name = r.name();
      module.customSections.push({ name, start: r.pos, end: section.end });
      r.pos = section.end;
      return;
    }
    case SECTION.type:
      return readVector(r, () => module.types.push(readFuncType(r)));
    case SECTION.import:
      return readVector(r, () => module.imports.push(readImport(r, module)));
    case SECTION.function:
      return readVector(r, () => module.functionTypes.push(r.u32()));
    case SECTION.table:
      return readVector(r, () => { readTable(r); module.tableCount++; });
    case SECTION.memory:
      return readVector(r, () => module.memories.push(readMemoryLimits(r)));
    case SECTION.tag:
      return readVector(r, () => { r.u8(); r.u32(); });
    case SECTION.global:
      return readVector(r, () => { readGlobalType(r); walkInstructions(r); module.globalCount++; });
    case SECTION.export:
      return readVector(r, () => module.exports.push(readExport(r)));
    case SECTION.start:
      module.start = r.u32();
      return;
    case SECTION.element:
      return readVector(r, () => module.elements.push(readElementSegment(r)));
    case SECTION.dataCount:
      module.dataCount = r.u32();
      return;
    case SECTION.code:
      return readVector(r, (index) => {
        const size = r.u32();
        const start = r.pos;
        r.context = `function body ${index} in section 10`;
        r.skip(size);
        r.context = 'section 10';
        module.codeBodies.push({ start, end: start + size });
      });
    case SECTION.data:
      return readVector(r, () => readDataSegment(r));
  }
}

export function readVector(r: ByteReader, readItem: (index: number) => void): void {
  const count = r.u32();
  for (let i = 0; i < count; i++) readItem(i);
}

function readFuncType(r: ByteReader): FuncType {
  const at = r.pos;
  const form = r.u8();
  if (form !== 0x60) {
    throw new WasmModuleError(`type form 0x${hex(form)} at byte ${at} is not a function type (GC type definitions are not supported)`, at);
  }
  const params: number[] = [];
  const results: number[] = [];
  readVector(r, () => params.push(readValueType(r)));
  readVector(r, () => results.push(readValueType(r)));
  return { params, results };
}

function readKind(r: ByteReader): ExternalKind {
  const at = r.pos;
  const byte = r.u8();
  const kind = KINDS[byte];
  if (kind === undefined) throw new WasmModuleError(`unknown external kind 0x${hex(byte)} at byte ${at}`, at);
  return kind;
}

function readImport(r: ByteReader, module: ModuleStructure): Import {
  const moduleName = r.name();
  const name = r.name();
  const kind = readKind(r);
  const entry: Import = { module: moduleName, name, kind };
  switch (kind) {
    case 'func': {
      const at = r.pos;
      entry.typeIndex = r.u32();
      entry.funcType = module.types[entry.typeIndex];
      if (entry.funcType === undefined) throw new WasmModuleError(`import ${moduleName}.${name} names type ${entry.typeIndex}, which does not exist (byte ${at})`, at);
      module.importedFunctionCount++;
      break;
    }
    case 'table':
      readValueType(r);
      readLimits(r, 'table');
      break;
    case 'memory':
      entry.memory = readMemoryLimits(r);
      break;
    case 'global':
      readGlobalType(r);
      module.importedGlobalCount++;
      break;
    case 'tag':
      r.u8();
      r.u32();
      break;
  }
  return entry;
}

interface Limits { flags: number; initial: number; max: number | undefined }

function readLimits(r: ByteReader, what: 'table' | 'memory'): Limits {
  const at = r.pos;
  const flags = r.u8();
  if (flags & 0x04) throw new WasmModuleError(`${what} at byte ${at} is 64-bit (memory64/table64), which is not supported`, at);
  if (flags & ~0x0b) throw new WasmModuleError(`unknown ${what} limits flags 0x${hex(flags)} at byte ${at}`, at);
  if (flags & 0x08) throw new WasmModuleError(`${what} at byte ${at} declares a custom page size, which is not supported`, at);
  const initial = r.u32();
  const max = flags & 0x01 ? r.u32() : undefined;
  return { flags, initial, max };
}

function readMemoryLimits(r: ByteReader): MemoryLimits {
  const at = r.pos;
  const limits = readLimits(r, 'memory');
  if (limits.initial > PAGE_LIMIT_32 || (limits.max ?? 0) > PAGE_LIMIT_32) {
    throw new WasmModuleError(`memory at byte ${at} declares more than ${PAGE_LIMIT_32} pages`, at);
  }
  return { initialPages: limits.initial, maxPages: limits.max, shared: (limits.flags & 0x02) !== 0 };
}

function readTable(r: ByteReader): void {
  if (r.bytes[r.pos] === 0x40) {
    // function-references form: 0x40 0x00 tabletype expr
    r.skip(1);
    if (r.u8() !== 0x00) throw new WasmModuleError(`malformed table with initialiser at byte ${r.pos - 1}`, r.pos - 1);
    readValueType(r);
    readLimits(r, 'table');
    walkInstructions(r);
    return;
  }
  readValueType(r);
  readLimits(r, 'table');
}

function readGlobalType(r: ByteReader): void {
  readValueType(r);
  const at = r.pos;
  const mutability = r.u8();
  if (mutability > 1) throw new WasmModuleError(`malformed global mutability 0x${hex(mutability)} at byte ${at}`, at);
}

function readExport(r: ByteReader): Export {
  const name = r.name();
  const kind = readKind(r);
  return { name, kind, index: r.u32() };
}

/** Element segment flags: bit 0 passive/declarative, bit 1 explicit table or declarative, bit 2 expressions. */
export function elementMode(flags: number): ElementSegment['mode'] {
  if ((flags & 0x01) === 0) return 'active';
  return flags & 0x02 ? 'declarative' : 'passive';
}

function readElementSegment(r: ByteReader): ElementSegment {
  const at = r.pos;
  const flags = r.u32();
  if (flags > 7) throw new WasmModuleError(`unknown element segment flags ${flags} at byte ${at}`, at);
  const mode = elementMode(flags);
  if (mode === 'active') {
    if (flags & 0x02) r.u32();
    walkInstructions(r);
  }
  const usesExpressions = (flags & 0x04) !== 0;
  if (flags & 0x03) {
    if (usesExpressions) readValueType(r);
    else r.u8(); // elemkind 0x00 (funcref)
  }
  if (usesExpressions) readVector(r, () => walkInstructions(r));
  else readVector(r, () => r.u32());
  return { mode, flags };
}

function readDataSegment(r: ByteReader): void {
  const at = r.pos;
  const flags = r.u32();
  if (flags > 2) throw new WasmModuleError(`unknown data segment flags ${flags} at byte ${at}`, at);
  if (flags === 2) r.u32();
  if (flags !== 1) walkInstructions(r);
  r.skip(r.u32());
}
