// Where an upstream connection's reads land (net's `onread`), instead of a fresh 64 KiB
// allocation per read, shrunk to size, wrapped in an ArrayBuffer and pushed through a
// Readable: that default costs about a microsecond per read, most of the user-space time
// a small proxied answer spends on the upstream side.
//
// Reads land in one buffer shared by the worker's upstream connections. What outlives the
// read (a body piece handed to the client, an unfinished head) is copied out: a few hundred
// bytes for most answers. A connection reading a large body moves to buffers of its own,
// handed on whole (no copy) and replaced after each read, and back to the shared one when
// the exchange ends: large bodies cost what they did, plus one copy of the first large read.

/** Kernel reads up to this many bytes at a time (as Node's own reads). */
const READ_BUFFER_SIZE = 64 * 1024;
/** Body pieces up to this size are copied out of a read buffer; larger ones move the connection to buffers of its own. */
const COPY_LIMIT = 8 * 1024;

let sharedBuffer: Buffer | undefined;

function shared(): Buffer {
  return (sharedBuffer ??= Buffer.allocUnsafeSlow(READ_BUFFER_SIZE));
}

function copyOf(bytes: Buffer): Buffer {
  const copy = Buffer.allocUnsafe(bytes.length);
  bytes.copy(copy);
  return copy;
}

/** The read buffers of one connection; `onread` is what net.connect / tls.connect take. */
export class ConnectionReads {
  /** The bytes being processed lie in a buffer the next read overwrites. */
  lent = false;
  readonly onread: { buffer: () => Buffer; callback: (n: number, buf: Uint8Array) => boolean };
  private buffer: Buffer | undefined;
  private owned = false;
  private given = false;
  private wantsOwn = false;

  constructor(onBytes: (chunk: Buffer) => void) {
    this.onread = {
      buffer: this.next,
      callback: (n, buf) => {
        this.lent = true;
        onBytes((buf as Buffer).subarray(0, n));
        this.lent = false;
        return true; // pausing goes through socket.pause()
      },
    };
  }

  /** A body piece about to be handed on (lent is true): a copy, or the bytes themselves when their buffer is this connection's own. */
  handOn(piece: Buffer): Buffer {
    if (piece.length <= COPY_LIMIT) return copyOf(piece);
    if (this.owned) {
      this.given = true;
      return piece;
    }
    this.wantsOwn = true;
    return copyOf(piece);
  }

  /** Bytes kept past this read (an unfinished response head). */
  keep(bytes: Buffer): Buffer {
    return this.lent ? copyOf(bytes) : bytes;
  }

  /** The exchange is over: later reads go to the shared buffer again. */
  exchangeEnded(): void {
    this.wantsOwn = false;
  }

  // Called by net after each read (and once when the socket opens) for the next read's buffer.
  private readonly next = (): Buffer => {
    if (!this.wantsOwn) {
      this.owned = false;
      this.buffer = shared();
    } else if (!this.owned || this.given) {
      this.owned = true;
      this.buffer = Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
    }
    this.given = false;
    return this.buffer!;
  };
}
