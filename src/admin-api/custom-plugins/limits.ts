// Limits shared by the publish form and the WasmPlugin importer.

export const MAX_WASM_BYTES = 50 * 1024 * 1024;
export const WASM_TOO_LARGE = 'the .wasm file is larger than 50 MB';
