// Rewrites the `name` custom section after a function import was inserted: the function
// names (1), local names (2) and label names (3) subsections are keyed by function index,
// which shifted. Other subsections (module, types, tables, memories, globals, ...) are
// unaffected because nothing else was renumbered.

import { ByteReader, ByteWriter, WasmModuleError } from './bytes.js';
import { readVector } from './reader.js';

const FUNCTION_KEYED_SUBSECTIONS = new Set([1, 2, 3]);

/**
 * Returns the new payload (everything after the custom section's own name), or undefined when
 * the section is malformed: engines ignore a malformed name section, so we drop it rather than
 * refuse the module or keep names that would now point at the wrong functions.
 */
export function rewriteNameSection(bytes: Uint8Array, start: number, end: number, remap: (index: number) => number): Uint8Array | undefined {
  try {
    const r = new ByteReader(bytes, start, end);
    r.context = 'name section';
    const out = new ByteWriter(end - start + 16);
    const sub = new ByteWriter(256);
    while (!r.atEnd()) {
      const id = r.u8();
      const size = r.u32();
      const subStart = r.pos;
      r.skip(size);
      out.u8(id);
      if (!FUNCTION_KEYED_SUBSECTIONS.has(id)) {
        out.u32(size);
        out.bytes(bytes.subarray(subStart, subStart + size));
        continue;
      }
      const entries = new ByteReader(bytes, subStart, subStart + size);
      entries.context = `name subsection ${id}`;
      sub.reset();
      const count = entries.u32();
      sub.u32(count);
      for (let i = 0; i < count; i++) {
        sub.u32(remap(entries.u32()));
        const valueStart = entries.pos;
        if (id === 1) entries.name();
        else readVector(entries, () => { entries.u32(); entries.name(); });
        sub.bytes(bytes.subarray(valueStart, entries.pos));
      }
      if (entries.pos !== entries.limit) throw new WasmModuleError(`name subsection ${id} has trailing bytes`);
      out.u32(sub.length);
      out.bytes(sub.view());
    }
    return out.toBytes();
  } catch (error) {
    if (error instanceof WasmModuleError) return undefined;
    throw error;
  }
}
