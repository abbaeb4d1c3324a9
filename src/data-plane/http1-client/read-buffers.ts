// Where an upstream connection's reads land (net's `onread`), instead of a fresh 64 KiB
// allocation per read, shrunk to size, wrapped in an ArrayBuffer and pushed through a
// Readable: that default costs about a microsecond per read, most of the user-space time
// a small proxied answer spends on the upstream side.
//
// Reads land in one buffer shared by the worker's upstream connections. What outlives the
// read (a body piece handed to the client, an unfinished head) is copied out: a few hundred
// bytes for most answers. A connection reading a large body moves to a buffer of its own,
// whose pieces are handed on whole (no copy). When the client's socket took a piece at
// once (nothing of it left queued), the buffer is read into again; when the piece is still
// queued (a slow client) or kept (a body filter), the next read gets a new buffer. At the
// end of the exchange the connection goes back to the shared buffer, and its own one to a
// small free list. So a large body streamed to a fast client allocates nothing per read:
// allocating 64 KiB per read (as Node does) drives V8's scavenges by external memory
// pressure and then promotes every in-flight request's objects into major GCs.

/** Kernel reads up to this many bytes at a time (as Node's own reads). */
const READ_BUFFER_SIZE = 64 * 1024;
/** Body pieces up to this size are copied out of a read buffer; larger ones move the connection to a buffer of its own. */
const COPY_LIMIT = 8 * 1024;
/** Own buffers kept for the next large body (per worker). */
const FREE_MAX = 16;

let sharedBuffer: Buffer | undefined;
const free: Buffer[] = [];

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
  private wantsOwn = false;
  /** Pieces of the owned buffer handed on and not known to be released. */
  private outstanding = 0;
  /** The last piece handOn returned is the owned buffer's bytes (not a copy). */
  gaveLast = false;

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
    this.gaveLast = false;
    if (piece.length <= COPY_LIMIT) return copyOf(piece);
    if (this.owned) {
      this.gaveLast = true;
      this.outstanding++;
      return piece;
    }
    this.wantsOwn = true;
    return copyOf(piece);
  }

  /** The piece handOn last returned is no longer referenced (its bytes are in the kernel, or dropped). */
  released(): void {
    if (this.gaveLast) {
      this.gaveLast = false;
      this.outstanding--;
    }
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
    const reusable = this.outstanding === 0;
    this.outstanding = 0;
    this.gaveLast = false;
    if (!this.wantsOwn) {
      if (this.owned) {
        if (reusable && free.length < FREE_MAX) free.push(this.buffer!);
        this.owned = false;
      }
      this.buffer = shared();
    } else if (!this.owned || !reusable) {
      this.owned = true;
      this.buffer = free.pop() ?? Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
    }
    return this.buffer!;
  };
}
