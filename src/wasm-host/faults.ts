// Why a guest call failed. Every fault breaks the VM it happened in (its state may be
// half-updated: a Rust RefCell borrowed, a Go lock held), so the VM is dropped and the
// next request gets a fresh one; only the requests in flight on it fail.

export type FaultKind = 'trap' | 'deadline' | 'exit' | 'memory' | 'host';

export class WasmFault extends Error {
  constructor(readonly plugin: string, readonly callback: string, readonly kind: FaultKind, detail: string) {
    super(`wasm plugin ${plugin} failed in ${callback}: ${detail}`);
    this.name = 'WasmFault';
  }
}

/** Thrown through the guest by the instrumented loop check when a call overran its deadline. */
export class DeadlineExceeded extends Error {
  constructor(readonly limitMs: number) {
    super(`did not return within ${limitMs} ms`);
  }
}

/** A module that cannot be used at all (publish refuses it with this reason). */
export class WasmLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WasmLoadError';
  }
}
