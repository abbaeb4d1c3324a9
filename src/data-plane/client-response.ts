/** Response headers: a flat [name, value, …] list or a record (array values repeat the field). */
export type HeaderInput = readonly string[] | Readonly<Record<string, string | number | readonly string[] | undefined>>;

/**
 * The response side of one request as the lifecycle, the forwarder and the plugins'
 * response phases write it, whatever the client's protocol: HTTP/1.1 (http1/response.ts,
 * bytes on the connection) or an HTTP/2 stream (http2/stream-response.ts).
 */
export interface ClientResponse {
  statusCode: number;
  readonly headersSent: boolean;
  /** end() was called. */
  readonly writableFinished: boolean;
  /** Closed before it was finished (the client went away, or destroy()). */
  readonly destroyed: boolean;
  /** Body bytes handed to the client (no framing). */
  readonly bodyBytes: number;
  /** Everything handed to the client for this response, head and framing included (nginx `bytes_sent`). */
  readonly bytesSent: number;
  /**
   * Nothing written is queued unsent: the kernel has all of it. Read right after a write, it
   * says that the Buffer written is referenced no more (its memory may be reused).
   */
  readonly flushed: boolean;
  /** Runs once, when the response is finished or can no longer be. */
  onClose(fn: () => void): void;
  /** Runs each time the client can take more after a `write` returned false. */
  onDrain(fn: () => void): void;
  /** Sets status and headers (sent with the first body bytes); `trusted` skips the header-injection checks. */
  writeHead(status: number, reasonOrHeaders?: string | HeaderInput, headers?: HeaderInput, trusted?: boolean): this;
  /** False: the client is not taking more yet, wait for onDrain. */
  write(chunk: Buffer | string): boolean;
  end(chunk?: Buffer | string): void;
  /** Sends the head now rather than with the first body bytes (HTTP/2 only). */
  flushHeaders?(): void;
  /** Trailers may follow the body: called before the head is sent (HTTP/2 only; HTTP/1.1 has no such method). */
  expectTrailers?(): void;
  /** The trailer fields sent after the body, called before end() (HTTP/2 only). */
  setTrailers?(fields: Readonly<Record<string, string | readonly string[]>>): void;
  /** Abandons the response: the connection (HTTP/1.1) or the stream (HTTP/2) is reset. */
  destroy(err?: Error): void;
}

/** What both responses keep the same way: the counters, the close listeners (run once) and the drain listener. */
export abstract class ResponseBase {
  statusCode = 200;
  headersSent = false;
  writableFinished = false;
  destroyed = false;
  bodyBytes = 0;
  bytesSent = 0;
  abstract readonly flushed: boolean;
  private closeListeners: (() => void)[] | undefined;
  protected drainListener: (() => void) | undefined;

  /** Runs once, when the response is finished or can no longer be (the client went away, or `destroy`). */
  onClose(fn: () => void): void {
    (this.closeListeners ??= []).push(fn);
  }

  /** Runs each time the client can take more after a `write` returned false. */
  onDrain(fn: () => void): void {
    this.drainListener = fn;
  }

  /** @internal the response is finished, or its connection (stream) is gone: the close listeners run, once. */
  closed(): void {
    if (!this.writableFinished) this.destroyed = true;
    const listeners = this.closeListeners;
    this.closeListeners = undefined;
    this.drainListener = undefined;
    if (listeners !== undefined) for (const fn of listeners) fn();
  }
}
