import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionReads } from './read-buffers.js';

// Which buffer each read lands in: the shared one while pieces are small; a buffer of the
// connection's own once a large body starts, read into again only when every piece handed
// on from it was released; the shared one again when the exchange ends.

/** Simulates net's onread: the buffer for the next read, then a read of `n` bytes into it. */
function reader(onBytes: (chunk: Buffer, reads: ConnectionReads) => void): { reads: ConnectionReads; read(n: number): Buffer } {
  let reads!: ConnectionReads;
  reads = new ConnectionReads((chunk) => onBytes(chunk, reads));
  let buf = reads.onread.buffer();
  return {
    reads,
    read(n) {
      const used = buf;
      reads.onread.callback(n, buf);
      buf = reads.onread.buffer();
      return used;
    },
  };
}

test('small pieces are copied out of the shared buffer; a large one moves the connection to a buffer of its own', () => {
  const pieces: Buffer[] = [];
  const a = reader((chunk, reads) => { pieces.push(reads.handOn(chunk)); });
  const b = reader(() => undefined);
  const shared = a.read(100);
  assert.equal(b.read(10), shared, 'one shared buffer for both connections');
  assert.notEqual(pieces[0]!.buffer, shared.buffer, 'a small piece is a copy');
  a.read(30_000); // large, still in the shared buffer: copied, and the next read goes elsewhere
  assert.notEqual(pieces[1]!.buffer, shared.buffer);
  const own = a.read(30_000);
  assert.notEqual(own, shared);
  assert.equal(pieces[2]!.buffer, own.buffer, 'a large piece from its own buffer is handed on as is');
  assert.notEqual(a.read(30_000), own, 'not released: the next read gets a new buffer');
});

test('an own buffer is read into again only when every piece from it was released; the exchange end returns to the shared one', () => {
  let release = true;
  const a = reader((chunk, reads) => {
    reads.handOn(chunk.subarray(0, 20_000));
    if (release) reads.released();
    reads.handOn(chunk.subarray(20_000));
    if (release) reads.released();
  });
  const shared = a.read(40_000);
  const own = a.read(40_000);
  assert.notEqual(own, shared);
  assert.equal(a.read(40_000), own, 'both pieces released: the same buffer again');
  release = false;
  assert.equal(a.read(40_000), own);
  const next = a.read(40_000);
  assert.notEqual(next, own, 'pieces still held: a fresh buffer');
  a.reads.exchangeEnded();
  a.read(0 + 1);
  assert.equal(a.read(1), shared, 'after the exchange: the shared buffer');
});
