// Copies a region of the input to a writer, replacing or inserting bytes at given offsets.
// Untouched stretches are copied in one piece when the next edit (or the end) is reached.

import { ByteWriter } from './bytes.js';

export class Patcher {
  edits = 0;

  constructor(readonly source: Uint8Array, public out: ByteWriter, public cursor: number) {}

  /** Copies the untouched input from the cursor up to `offset`. */
  copyTo(offset: number): void {
    if (offset > this.cursor) this.out.copyFrom(this.source, this.cursor, offset);
    this.cursor = offset;
  }

  replaceU32(start: number, end: number, value: number): void {
    this.copyTo(start);
    this.out.u32(value);
    this.cursor = end;
    this.edits++;
  }

  insert(offset: number, data: Uint8Array): void {
    this.copyTo(offset);
    this.out.bytes(data);
    this.edits++;
  }

  /** Restarts on another region (and possibly another writer) of the same input. */
  restart(out: ByteWriter, cursor: number): void {
    this.out = out;
    this.cursor = cursor;
    this.edits = 0;
  }
}
