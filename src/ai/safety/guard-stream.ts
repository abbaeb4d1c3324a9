// Checking a streamed chat answer (server-sent events) with a moderation service without
// buffering the stream: the answer's text (the content path of each event) accumulates,
// and the events carrying it are held back until at least `window` characters of text
// are unchecked; then that text is checked and, if it passes, the held events are sent.
// A flagged window replaces everything from it on with the deny events. So a client sees
// text up to one window late (plus one moderation round trip), and memory is bounded by
// the window (and by `maxHeldBytes` of held events: past it the text so far is checked
// early). The end of the stream, and `[DONE]`, check what is left. Each check repeats the
// end of the text checked before it (overlapFor(window) characters): a flagged phrase the
// window edge split is seen whole, though its first part may have reached the client.
import { SseParser, formatSse, type SseEvent } from '../protocol/sse.js';
import { overlapFor, textAt } from '../json-path/content-path.js';
import type { JsonPathLite } from '../json-path/json-path-lite.js';

export interface SseGuardOptions {
  path: JsonPathLite;
  /** Characters of text held before a check (Higress's bufferLimit). */
  window: number;
  /** Bytes of held events before the text so far is checked anyway. */
  maxHeldBytes: number;
  /**
   * Checks new text, `context` (the end of the text checked before) read before it;
   * resolves to the events to send instead of the rest of the stream, or undefined when it passed.
   */
  check: (text: string, context: string) => Promise<string | undefined>;
}

export class SseGuard {
  private readonly parser = new SseParser();
  private held = '';
  private unchecked = '';
  /** The end of the text checked last, repeated before the next window. */
  private context = '';
  /** True once a window was flagged: the rest of the stream is dropped. */
  denied = false;

  constructor(private readonly opts: SseGuardOptions) {}

  /** The bytes to send for `chunk` (possibly none yet). Throws as SseParser does for an oversized event. */
  async push(chunk: Buffer): Promise<string> {
    if (this.denied) return '';
    return this.events(this.parser.push(chunk));
  }

  async end(): Promise<string> {
    if (this.denied) return '';
    const out = await this.events(this.parser.end());
    return this.denied ? out : out + await this.flush();
  }

  private async events(events: SseEvent[]): Promise<string> {
    let out = '';
    for (const e of events) {
      out += await this.event(e);
      if (this.denied) return out;
    }
    return out;
  }

  private async event(e: SseEvent): Promise<string> {
    if (e.data === '[DONE]') {
      const before = await this.flush();
      return this.denied ? before : before + formatSse(e);
    }
    let text = '';
    try { text = textAt(JSON.parse(e.data), this.opts.path); } catch { /* not JSON: no text to check */ }
    if (text === '' && this.held === '') return formatSse(e);
    this.held += formatSse(e);
    this.unchecked += text;
    if (this.unchecked.length >= this.opts.window || this.held.length > this.opts.maxHeldBytes) return this.flush();
    return '';
  }

  private async flush(): Promise<string> {
    const out = this.held;
    const text = this.unchecked;
    this.held = '';
    this.unchecked = '';
    if (text === '') return out;
    const deny = await this.opts.check(text, this.context);
    const overlap = overlapFor(this.opts.window);
    this.context = overlap === 0 ? '' : (this.context + text).slice(-overlap);
    if (deny === undefined) return out;
    this.denied = true;
    return deny;
  }
}
