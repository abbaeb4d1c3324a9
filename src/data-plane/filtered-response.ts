import type { Exchange } from './exchange.js';
import type { PluginRun } from '../plugin-runtime/plugin-run.js';
import { ResponseState } from '../plugin-runtime/plugin-run.js';
import { isPromise } from '../plugin-runtime/runner.js';
import { hasBodyFilters, runBodyFilter, runHeaderFilter } from '../plugin-runtime/response-phases.js';
import { ResponseFailure } from '../plugin-runtime/response-failure.js';

const EMPTY = Buffer.alloc(0);

/**
 * An upstream response on its way to a client whose request has plugins: header_filter
 * on the head, body_filter on every chunk, then the client. While every handler is
 * synchronous this is a straight pass (the caller's return values carry backpressure as
 * they would without plugins). When a handler returns a promise, the upstream is held
 * (`false` returned: the upstream parser pauses), later chunks queue behind it in
 * order, and `resume` is called once the work is done and the client socket has room.
 */
export class FilteredResponse {
  private holding: Promise<unknown> | undefined;
  private waitingDrain = false;
  private filterBody = false;
  private ended = false;

  /**
   * @param failed a body_filter gave the response up (ResponseFailure): the caller answers
   *   with its error (or cuts the connection once bytes went out) and stops the upstream
   */
  constructor(private readonly ex: Exchange, private readonly run: PluginRun, private readonly resume: () => void,
    private readonly failed: (err: ResponseFailure) => void) {}

  private gaveUp = false;

  /** The upstream's status line and headers (flat). false: wait for `resume`. */
  head(status: number, statusText: string | undefined, flat: string[]): boolean {
    const run = this.run;
    run.response = ResponseState.fromFlat(status, flat);
    const r = runHeaderFilter(run);
    if (r !== undefined) {
      this.hold(() => r.then(() => this.writeHead(status, statusText)));
      return false;
    }
    this.writeHead(status, statusText);
    return true;
  }

  private writeHead(upstreamStatus: number, statusText: string | undefined): void {
    const run = this.run;
    this.filterBody = hasBodyFilters(run);
    // A body filter may change the length: the HTTP layer frames the body instead.
    if (this.filterBody && !(run.routeChain.bodyKeepsLength === true && run.globalChain.bodyKeepsLength === true)) run.response.setHeader('content-length', undefined);
    const status = run.response.status;
    this.ex.res.writeHead(status, status === upstreamStatus ? statusText : undefined, run.response.flatten(), true);
  }

  /** Asked right after data(): that chunk is referenced no more (unfiltered, not queued behind work, and the client's socket took it whole). */
  pieceReleased(): boolean {
    return !this.filterBody && this.holding === undefined && this.ex.res.flushed;
  }

  /** One body chunk. false: wait for `resume` (the client socket is full, or a filter is working). */
  data(chunk: Buffer): boolean {
    if (this.gaveUp) return false;
    // undici hands over an empty chunk on resuming after a pause: holding it behind an
    // async body_filter would pause it again, for ever
    if (chunk.length === 0) return true;
    if (this.holding !== undefined) {
      this.hold(() => this.filtered(chunk, false));
      return false;
    }
    if (!this.filterBody) return this.write(chunk);
    let out: Buffer | Promise<Buffer>;
    try {
      out = runBodyFilter(this.run, chunk, false);
    } catch (err) {
      this.giveUp(err);
      return false;
    }
    if (isPromise(out)) {
      this.hold(() => out.then((c) => { this.write(c); }));
      return false;
    }
    return out.length === 0 ? true : this.write(out);
  }

  /** The upstream response is complete. */
  end(): void {
    this.ended = true;
    if (this.gaveUp) return;
    if (this.holding !== undefined) {
      this.hold(() => this.finish());
      return;
    }
    let r: void | Promise<void>;
    try {
      r = this.finish();
    } catch (err) {
      this.giveUp(err);
      return;
    }
    if (r !== undefined) this.hold(() => r);
  }

  /** A filter failed the response (ResponseFailure), or something unexpected broke it. */
  private giveUp(err: unknown): void {
    if (this.gaveUp) return;
    this.gaveUp = true;
    if (err instanceof ResponseFailure) {
      this.failed(err);
      return;
    }
    this.run.log.error({ err: (err as Error)?.message ?? String(err) }, 'response phases failed');
    this.ex.res.destroy();
  }

  /** The client socket drained after a write returned false. */
  drained(): void {
    this.waitingDrain = false;
    if (this.holding === undefined && !this.ended) this.resume();
  }

  private finish(): void | Promise<void> {
    if (!this.filterBody) {
      this.endWith(EMPTY);
      return undefined;
    }
    const last = runBodyFilter(this.run, EMPTY, true);
    if (isPromise(last)) return last.then((c) => this.endWith(c));
    this.endWith(last);
    return undefined;
  }

  private endWith(last: Buffer): void {
    const held = this.held;
    this.held = undefined;
    if (held !== undefined) {
      // the whole body in one write, with a Content-Length (the head is still unsent)
      this.ex.res.end(last.length > 0 ? Buffer.concat([held, last]) : held);
      return;
    }
    // nothing written yet (a filter that holds the body to its end): one write, with a Content-Length
    if (!this.ex.res.headersSent) this.ex.res.end(last);
    else {
      if (last.length > 0) this.ex.res.write(last);
      this.ex.res.end();
    }
  }

  /** A chunk that queued behind earlier work: filtered (when the body is) and written. */
  private filtered(chunk: Buffer, eof: boolean): void | Promise<void> {
    if (!this.filterBody) {
      this.write(chunk);
      return undefined;
    }
    const out = runBodyFilter(this.run, chunk, eof);
    if (isPromise(out)) return out.then((c) => { this.write(c); });
    this.write(out);
    return undefined;
  }

  /**
   * With body filters (which may change the length, so the head lost its Content-Length),
   * the first chunk waits until the upstream read it came in has been handled: a body
   * complete by then (a small response: its data and its end arrive in one read) goes out
   * in one write with a Content-Length instead of chunked. A body still streaming loses
   * nothing but that moment. Without body filters the head keeps its framing and the
   * connection batches the writes of a tick anyway: nothing is held.
   */
  private held: Buffer | undefined;

  private readonly releaseHeld = (): void => {
    const held = this.held;
    this.held = undefined;
    if (held !== undefined && !this.gaveUp && !this.ex.res.writableFinished) this.writeNow(held);
  };

  private write(chunk: Buffer): boolean {
    if (chunk.length === 0) return true;
    if (this.held !== undefined) {
      const held = this.held;
      this.held = undefined;
      this.writeNow(held);
    } else if (this.filterBody && !this.ex.res.headersSent) {
      this.held = chunk;
      queueMicrotask(this.releaseHeld);
      return true;
    }
    return this.writeNow(chunk);
  }

  private writeNow(chunk: Buffer): boolean {
    const ok = this.ex.res.write(chunk);
    if (!ok) this.waitingDrain = true;
    return ok;
  }

  /** Runs `step` after the work already held; when the last held step is done, the upstream resumes (once the client has room). */
  private hold(step: () => unknown): void {
    const p = (this.holding ?? Promise.resolve()).then(step);
    this.holding = p;
    p.then(() => {
      if (this.holding !== p) return;
      this.holding = undefined;
      if (!this.waitingDrain && !this.ended) this.resume();
    }, (err: unknown) => {
      this.holding = undefined;
      this.giveUp(err);
    });
  }
}
