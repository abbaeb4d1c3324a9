import { Status } from './constants.js';

/** A host call touched memory outside the guest's: the call answers INVALID_MEMORY_ACCESS. */
export class GuestMemoryError extends Error {}

const utf8 = new TextDecoder('utf-8');

/**
 * The guest's linear memory as host functions use it. Views are taken fresh on every
 * access: any call into the guest (its allocator included) may grow memory, which
 * detaches the previous ArrayBuffer. Pointers and sizes arrive as signed i32 from the
 * guest and are normalised with `>>> 0` (usize::MAX reads as -1 otherwise).
 */
export class GuestMemory {
  private memory: WebAssembly.Memory | undefined;
  private allocate: ((size: number) => number) | undefined;

  bind(memory: WebAssembly.Memory, allocate: (size: number) => number): void {
    this.memory = memory;
    this.allocate = allocate;
  }

  get byteLength(): number {
    return this.memory?.buffer.byteLength ?? 0;
  }

  private buffer(): ArrayBuffer {
    if (this.memory === undefined) throw new GuestMemoryError('the module exports no memory');
    return this.memory.buffer;
  }

  /** A view of [ptr, ptr + size) (no copy: use it before the next guest call). */
  view(ptr: number, size: number): Uint8Array {
    const p = ptr >>> 0, n = size >>> 0;
    const buf = this.buffer();
    if (p + n > buf.byteLength) throw new GuestMemoryError(`guest memory access [${p}, ${p + n}) outside ${buf.byteLength} bytes`);
    return new Uint8Array(buf, p, n);
  }

  /** A copy of [ptr, ptr + size), as a Buffer the host may keep. */
  copy(ptr: number, size: number): Buffer {
    return Buffer.from(this.view(ptr, size));
  }

  string(ptr: number, size: number): string {
    return utf8.decode(this.view(ptr, size));
  }

  u32(ptr: number): number {
    return new DataView(this.buffer()).getUint32(this.checked(ptr, 4), true);
  }

  setU32(ptr: number, v: number): void {
    new DataView(this.buffer()).setUint32(this.checked(ptr, 4), v >>> 0, true);
  }

  setU64(ptr: number, v: bigint): void {
    new DataView(this.buffer()).setBigUint64(this.checked(ptr, 8), BigInt.asUintN(64, v), true);
  }

  private checked(ptr: number, n: number): number {
    const p = ptr >>> 0;
    if (p + n > this.buffer().byteLength) throw new GuestMemoryError(`guest memory access at ${p} (${n} bytes) outside memory`);
    return p;
  }

  /**
   * Hands `data` to the guest the ABI's way: guest-allocated memory (the guest owns and
   * frees it), its pointer and length written at the two out-pointers. Empty data is
   * pointer 0, length 0 (what cpp-host does; the SDKs read it as "none").
   */
  give(data: Uint8Array, retPtrPtr: number, retSizePtr: number): number {
    if (data.length === 0) {
      this.setU32(retPtrPtr, 0);
      this.setU32(retSizePtr, 0);
      return Status.OK;
    }
    const ptr = this.alloc(data.length);
    if (ptr === 0) return Status.INVALID_MEMORY_ACCESS;
    this.view(ptr, data.length).set(data);
    this.setU32(retPtrPtr, ptr);
    this.setU32(retSizePtr, data.length);
    return Status.OK;
  }

  /** Guest memory for `size` bytes (0: the allocator failed). Memory may have grown after it. */
  alloc(size: number): number {
    if (this.allocate === undefined) throw new GuestMemoryError('the module exports no allocator');
    return this.allocate(size) >>> 0;
  }
}
