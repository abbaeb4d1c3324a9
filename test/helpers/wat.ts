// Compiles WebAssembly text to a binary with the `wabt` package (a devDependency), every
// post-MVP feature the wasm-host binary tools decode turned on.

type Wabt = {
  parseWat(name: string, text: string, features?: Record<string, boolean>): {
    toBinary(options: Record<string, boolean>): { buffer: Uint8Array };
    destroy(): void;
  };
  readWasm(bytes: Uint8Array, options: Record<string, boolean>): {
    applyNames(): void;
    toText(options: Record<string, boolean>): string;
    destroy(): void;
  };
};

let wabtPromise: Promise<Wabt> | undefined;

const FEATURES = {
  exceptions: true, mutable_globals: true, sat_float_to_int: true, sign_extension: true, simd: true,
  threads: true, multi_value: true, tail_call: true, bulk_memory: true, reference_types: true,
  extended_const: true, relaxed_simd: true, multi_memory: true,
};

/** The text form of a binary, with the names from its name section. */
export async function wasmToText(bytes: Uint8Array): Promise<string> {
  wabtPromise ??= import('wabt').then((m) => (m.default as unknown as () => Promise<Wabt>)());
  const module = (await wabtPromise).readWasm(bytes, { readDebugNames: true, ...FEATURES });
  try {
    module.applyNames();
    return module.toText({});
  } finally {
    module.destroy();
  }
}

export async function wat(text: string, options: { names?: boolean } = {}): Promise<Uint8Array<ArrayBuffer>> {
  wabtPromise ??= import('wabt').then((m) => (m.default as unknown as () => Promise<Wabt>)());
  const wabt = await wabtPromise;
  const parsed = wabt.parseWat('fixture.wat', text, FEATURES);
  try {
    return Uint8Array.from(parsed.toBinary({ write_debug_names: options.names ?? false }).buffer);
  } finally {
    parsed.destroy();
  }
}

function u32(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

function section(id: number, payload: number[]): number[] {
  return [id, ...u32(payload.length), ...payload];
}

/**
 * A module with one function of type [] -> [] whose body (locals included) is `body`, for
 * encodings wabt cannot write (try_table, throw_ref) or must refuse (unknown opcodes).
 * `tags` declares tags of type index 0.
 */
export function handModule(body: number[], options: { tags?: number } = {}): Uint8Array<ArrayBuffer> {
  const tags = options.tags ?? 0;
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 0, 0]),
    ...section(3, [1, 0]),
    ...(tags > 0 ? section(13, [tags, ...Array.from({ length: tags }, () => [0x00, 0x00]).flat()]) : []),
    ...section(7, [1, 1, 0x66, 0x00, 0x00]),
    ...section(10, [1, ...u32(body.length), ...body]),
  ];
  return Uint8Array.from(bytes);
}
