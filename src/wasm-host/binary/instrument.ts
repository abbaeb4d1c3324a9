// Rewrites a module at load time so that a guest call can be bounded without a second
// thread: a counter is decremented at the top of every loop body and, every
// `checkInterval` iterations, the host's `gatehouse.deadline_check` is called (it throws
// once the call's deadline has passed, and must keep throwing on every later call until the
// host's guest call has returned). Every legacy exception handler starts with that call too, so
// a guest's catch_all cannot swallow the deadline. Recursion needs no check: it ends in a stack
// overflow trap. Memory is capped at the same time. One pass over the input; untouched
// sections are passed through as views and everything is concatenated once at the end.

import { ByteReader, ByteWriter, WasmModuleError } from './bytes.js';
import { describeModule, type ModuleInfo } from './inspect.js';
import { readValueType, skipLocals, walkInstructions, type InstructionVisitor } from './opcodes.js';
import { rewriteNameSection } from './name-section.js';
import { RESERVED_IMPORT_MODULE, checkMemoryLimits, checkOptions, checkReservedImports, type InstrumentOptions } from './limits.js';
import { Patcher } from './patcher.js';
import { SECTION, parseModule, readVector, sectionRank, type ModuleStructure, type Section } from './reader.js';

export const DEADLINE_CHECK_IMPORT = { module: RESERVED_IMPORT_MODULE, name: 'deadline_check' } as const;

/**
 * A start section runs inside `new WebAssembly.Instance`, before the host can reach the
 * instance's exports (its memory, its allocator): a start function that calls the host
 * (AssemblyScript's top level writing a log line) would find no memory. The instrumented
 * module has no start section; its start function is exported under this name and the
 * host calls it right after instantiation, with the deadline of start-up.
 */
export const START_EXPORT = '__gatehouse_start';

export type { InstrumentOptions };

export interface InstrumentResult {
  bytes: Uint8Array<ArrayBuffer>;
  /** As inspectModule reports it, with memory.maxPages the capped maximum. */
  info: ModuleInfo;
  loopsInstrumented: number;
  /** Exception handlers (catch, catch_all) that now start with a deadline check. */
  handlersInstrumented: number;
  /** Index of the inserted import in the rewritten module's function index space. */
  deadlineCheckFunctionIndex: number;
}

export function instrumentModule(bytes: Uint8Array, options: InstrumentOptions): InstrumentResult {
  checkOptions(options);
  const module = parseModule(bytes);
  checkReservedImports(module);
  checkMemoryLimits(module, options.memoryMaxPages);
  const rewriter = new ModuleRewriter(bytes, module, options);
  const output = rewriter.run();
  const info = describeModule(module);
  if (info.memory) info.memory.maxPages = Math.min(info.memory.maxPages ?? options.memoryMaxPages, options.memoryMaxPages);
  return { bytes: output, info, loopsInstrumented: rewriter.loops, handlersInstrumented: rewriter.handlers, deadlineCheckFunctionIndex: module.importedFunctionCount };
}

class ModuleRewriter {
  loops = 0;
  handlers = 0;
  private readonly chunks: Uint8Array[] = [];
  private readonly shift: number;
  private readonly typeIndex: number;
  private readonly appendType: boolean;
  private readonly checkGlobal: number;
  private readonly loopCheck: Uint8Array;
  private readonly handlerCheck: Uint8Array;
  private typeDone = false;
  private importDone = false;
  private globalDone = false;
  private exportDone = false;
  private readonly patcher: Patcher;
  private readonly visitor: InstructionVisitor;

  constructor(private readonly bytes: Uint8Array, private readonly module: ModuleStructure, private readonly options: InstrumentOptions) {
    this.shift = module.importedFunctionCount;
    const existing = module.types.findIndex((t) => t.params.length === 0 && t.results.length === 0);
    this.appendType = existing < 0;
    this.typeIndex = this.appendType ? module.types.length : existing;
    this.checkGlobal = module.importedGlobalCount + module.globalCount;
    this.loopCheck = loopCheckCode(this.checkGlobal, options.checkInterval, this.shift);
    const call = new ByteWriter(8);
    call.u8(0x10);
    call.u32(this.shift);
    this.handlerCheck = call.toBytes();
    this.patcher = new Patcher(bytes, new ByteWriter(), 0);
    this.visitor = {
      functionIndex: (start, end, index) => {
        if (index >= this.shift) this.patcher.replaceU32(start, end, index + 1);
      },
      loopBody: (offset) => {
        this.patcher.insert(offset, this.loopCheck);
        this.loops++;
      },
      // The deadline is a JS exception, which a guest's catch_all can catch. Calling the check
      // first thing in every handler rethrows it before any handler code runs.
      handlerStart: (offset) => {
        this.patcher.insert(offset, this.handlerCheck);
        this.handlers++;
      },
      tryTable: (offset) => {
        throw new WasmModuleError(`try_table (exnref exception handling) at byte ${offset} is not supported: its handlers are branch targets where the deadline exception cannot be re-raised cheaply`, offset);
      },
    };
  }

  private remap(index: number): number {
    return index < this.shift ? index : index + 1;
  }

  run(): Uint8Array<ArrayBuffer> {
    this.chunks.push(this.bytes.subarray(0, 8));
    for (const section of this.module.sections) {
      if (section.id !== SECTION.custom) this.addMissingSectionsBefore(sectionRank(section.id));
      this.rewriteSection(section);
    }
    this.addMissingSectionsBefore(Number.POSITIVE_INFINITY);
    // A standalone array, not a view into Buffer's shared pool: callers may hand `.buffer` on.
    let total = 0;
    for (const chunk of this.chunks) total += chunk.length;
    const output = new Uint8Array(total);
    let offset = 0;
    for (const chunk of this.chunks) {
      output.set(chunk, offset);
      offset += chunk.length;
    }
    return output;
  }

  private emit(id: number, payload: Uint8Array): void {
    const header = new ByteWriter(8);
    header.u8(id);
    header.u32(payload.length);
    this.chunks.push(header.toBytes(), payload);
  }

  private emitOriginal(section: Section): void {
    this.chunks.push(this.bytes.subarray(section.headerStart, section.end));
  }

  private addMissingSectionsBefore(rank: number): void {
    if (!this.typeDone && rank > sectionRank(SECTION.type)) {
      this.typeDone = true;
      this.emit(SECTION.type, Uint8Array.of(1, 0x60, 0, 0));
    }
    if (!this.importDone && rank > sectionRank(SECTION.import)) {
      this.importDone = true;
      const w = new ByteWriter(32);
      w.u32(1);
      this.writeDeadlineImport(w);
      this.emit(SECTION.import, w.toBytes());
    }
    if (!this.globalDone && rank > sectionRank(SECTION.global)) {
      this.globalDone = true;
      const w = new ByteWriter(16);
      w.u32(1);
      this.writeCheckGlobal(w);
      this.emit(SECTION.global, w.toBytes());
    }
    if (!this.exportDone && rank > sectionRank(SECTION.export)) {
      this.exportDone = true;
      if (this.module.start !== undefined) {
        const w = new ByteWriter(32);
        w.u32(1);
        this.writeStartExport(w);
        this.emit(SECTION.export, w.toBytes());
      }
    }
  }

  private writeDeadlineImport(w: ByteWriter): void {
    w.name(DEADLINE_CHECK_IMPORT.module);
    w.name(DEADLINE_CHECK_IMPORT.name);
    w.u8(0x00);
    w.u32(this.typeIndex);
  }

  private writeCheckGlobal(w: ByteWriter): void {
    w.bytes(Uint8Array.of(0x7f, 0x01, 0x41));
    w.s32(this.options.checkInterval);
    w.u8(0x0b);
  }

  /** A reader over the section payload, positioned after its item count, and a writer holding the new count. */
  private begin(section: Section, extraItems: number): { r: ByteReader; w: ByteWriter; count: number } {
    const r = new ByteReader(this.bytes, section.start, section.end);
    r.context = `section ${section.id}`;
    const count = r.u32();
    const w = new ByteWriter(section.end - section.start + 64);
    w.u32(count + extraItems);
    this.patcher.restart(w, r.pos);
    return { r, w, count };
  }

  private finish(section: Section, w: ByteWriter): void {
    this.patcher.copyTo(section.end);
    this.emit(section.id, w.view());
  }

  private rewriteSection(section: Section): void {
    switch (section.id) {
      case SECTION.type: {
        this.typeDone = true;
        if (!this.appendType) return this.emitOriginal(section);
        const { w } = this.begin(section, 1);
        this.patcher.copyTo(section.end);
        w.bytes(Uint8Array.of(0x60, 0, 0));
        return this.emit(section.id, w.view());
      }
      case SECTION.import: {
        this.importDone = true;
        const { w } = this.begin(section, 1);
        this.patcher.copyTo(section.end);
        this.writeDeadlineImport(w);
        return this.emit(section.id, w.view());
      }
      case SECTION.table:
        return this.rewriteTables(section);
      case SECTION.memory:
        return this.rewriteMemories(section);
      case SECTION.global:
        return this.rewriteGlobals(section);
      case SECTION.export:
        return this.rewriteExports(section);
      case SECTION.start:
        // dropped: exported as START_EXPORT instead
        return undefined;
      case SECTION.element:
        return this.rewriteElements(section);
      case SECTION.code:
        return this.rewriteCode(section);
      case SECTION.data:
        return this.rewriteData(section);
      case SECTION.custom:
        return this.rewriteCustom(section);
      default:
        return this.emitOriginal(section);
    }
  }

  private rewriteTables(section: Section): void {
    const { r, w, count } = this.begin(section, 0);
    for (let i = 0; i < count; i++) {
      const initialised = this.bytes[r.pos] === 0x40;
      r.skip(initialised ? 2 : 0);
      readValueType(r);
      const flags = r.u8();
      r.u32();
      if (flags & 0x01) r.u32();
      if (initialised) walkInstructions(r, this.visitor, this.checkGlobal);
    }
    this.finish(section, w);
  }

  private rewriteMemories(section: Section): void {
    const w = new ByteWriter(16 * this.module.memories.length + 8);
    w.u32(this.module.memories.length);
    const cap = this.options.memoryMaxPages;
    for (const memory of this.module.memories) {
      w.u8(0x01);
      w.u32(memory.initialPages);
      w.u32(Math.min(memory.maxPages ?? cap, cap));
    }
    this.emit(section.id, w.view());
  }

  private rewriteGlobals(section: Section): void {
    this.globalDone = true;
    const { r, w, count } = this.begin(section, 1);
    for (let i = 0; i < count; i++) {
      readValueType(r);
      r.u8();
      walkInstructions(r, this.visitor, this.checkGlobal);
    }
    this.patcher.copyTo(section.end);
    this.writeCheckGlobal(w);
    this.emit(section.id, w.view());
  }

  private rewriteExports(section: Section): void {
    this.exportDone = true;
    const hasStart = this.module.start !== undefined;
    const { r, w, count } = this.begin(section, hasStart ? 1 : 0);
    for (let i = 0; i < count; i++) {
      const name = r.name();
      if (name === START_EXPORT) throw new WasmModuleError(`the module exports "${START_EXPORT}", a name the host reserves`, r.pos);
      const kind = r.u8();
      const start = r.pos;
      const index = r.u32();
      if (kind === 0x00 && index >= this.shift) this.patcher.replaceU32(start, r.pos, index + 1);
    }
    this.patcher.copyTo(section.end);
    if (hasStart) this.writeStartExport(w);
    this.emit(section.id, w.view());
  }

  private writeStartExport(w: ByteWriter): void {
    w.name(START_EXPORT);
    w.u8(0x00);
    w.u32(this.remap(this.module.start!));
  }

  private rewriteFunctionIndex(r: ByteReader): void {
    const start = r.pos;
    const index = r.u32();
    if (index >= this.shift) this.patcher.replaceU32(start, r.pos, index + 1);
  }

  private rewriteElements(section: Section): void {
    const { r, w, count } = this.begin(section, 0);
    for (let i = 0; i < count; i++) {
      const flags = r.u32();
      if ((flags & 0x01) === 0) {
        if (flags & 0x02) r.u32();
        walkInstructions(r, this.visitor, this.checkGlobal);
      }
      const usesExpressions = (flags & 0x04) !== 0;
      if (flags & 0x03) {
        if (usesExpressions) readValueType(r);
        else r.u8(); // elemkind
      }
      if (usesExpressions) readVector(r, () => walkInstructions(r, this.visitor, this.checkGlobal));
      else readVector(r, () => this.rewriteFunctionIndex(r));
    }
    this.finish(section, w);
  }

  private rewriteData(section: Section): void {
    const { r, w, count } = this.begin(section, 0);
    for (let i = 0; i < count; i++) {
      const flags = r.u32();
      if (flags === 2) r.u32();
      if (flags !== 1) walkInstructions(r, this.visitor, this.checkGlobal);
      r.skip(r.u32());
    }
    this.finish(section, w);
  }

  private rewriteCode(section: Section): void {
    const r = new ByteReader(this.bytes, section.start, section.end);
    const count = r.u32();
    // Loop checks add ~20 bytes each; a quarter more than the input is rarely outgrown.
    const w = new ByteWriter(Math.ceil((section.end - section.start) * 1.25) + 64);
    w.u32(count);
    const body = new ByteWriter(4096);
    for (let i = 0; i < count; i++) {
      r.limit = section.end;
      r.context = 'section 10';
      const size = r.u32();
      const start = r.pos;
      const end = start + size;
      r.limit = end;
      r.context = `function body ${i} (function ${i + this.shift})`;
      body.reset();
      this.patcher.restart(body, start);
      skipLocals(r);
      walkInstructions(r, this.visitor, this.checkGlobal);
      if (r.pos !== end) throw new WasmModuleError(`${r.context} has ${end - r.pos} bytes after its final end (byte ${r.pos})`, r.pos);
      if (this.patcher.edits === 0) {
        w.u32(size);
        w.bytes(this.bytes.subarray(start, end));
      } else {
        this.patcher.copyTo(end);
        w.u32(body.length);
        w.bytes(body.view());
      }
      r.pos = end;
    }
    this.emit(section.id, w.view());
  }

  private rewriteCustom(section: Section): void {
    const r = new ByteReader(this.bytes, section.start, section.end);
    const name = r.name();
    if (name !== 'name') return this.emitOriginal(section);
    const names = rewriteNameSection(this.bytes, r.pos, section.end, (i) => this.remap(i));
    if (names === undefined) return;
    const w = new ByteWriter(names.length + 8);
    w.name(name);
    w.bytes(names);
    this.emit(section.id, w.view());
  }
}

/**
 * global.get g; i32.const 1; i32.sub; global.set g; global.get g; i32.eqz;
 * if; i32.const interval; global.set g; call deadline_check; end
 * (WebAssembly has no global.tee, so the decremented value is read back.)
 */
function loopCheckCode(global: number, interval: number, deadlineCheck: number): Uint8Array {
  const w = new ByteWriter(32);
  w.u8(0x23); w.u32(global);
  w.u8(0x41); w.s32(1);
  w.u8(0x6b);
  w.u8(0x24); w.u32(global);
  w.u8(0x23); w.u32(global);
  w.u8(0x45);
  w.u8(0x04); w.u8(0x40);
  w.u8(0x41); w.s32(interval);
  w.u8(0x24); w.u32(global);
  w.u8(0x10); w.u32(deadlineCheck);
  w.u8(0x0b);
  return w.toBytes();
}
