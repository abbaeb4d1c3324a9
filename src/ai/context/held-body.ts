// An answer body held back whole so a plugin can rewrite it at the end, up to a bound: past
// it, what was held goes out as it came and the rest passes through.
export class HeldBody {
  private chunks: Buffer[] | null = [];
  private size = 0;

  constructor(private readonly maxBytes: number) {}

  /** Still holding (not over the bound, nothing released yet). */
  get holding(): boolean {
    return this.chunks !== null;
  }

  /**
   * Takes the next chunk: 'held' while holding and not at the end; the whole body at `eof`
   * ('complete'); or, the first time the bound is passed, the bytes held so far ('overflow').
   */
  push(chunk: Buffer, eof: boolean): { kind: 'held' } | { kind: 'complete' | 'overflow'; body: Buffer } {
    const chunks = this.chunks!;
    chunks.push(chunk);
    this.size += chunk.length;
    if (this.size > this.maxBytes || eof) {
      this.chunks = null;
      return { kind: this.size > this.maxBytes ? 'overflow' : 'complete', body: Buffer.concat(chunks) };
    }
    return { kind: 'held' };
  }
}
