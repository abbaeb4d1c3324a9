// Server-sent events (the WHATWG event-stream format) as model providers stream answers:
// an incremental parser that is fed the response body chunk by chunk, in whatever pieces
// TCP delivers (an event, a line, even a CRLF pair may be split across chunks), and a
// formatter for events the gateway writes itself. The parser only observes: plugins
// that pass the stream through unchanged keep the upstream's bytes.

export interface SseEvent {
  /** The `event:` field; undefined means the default type, "message". */
  event?: string;
  /** The `data:` lines joined with "\n". */
  data: string;
  id?: string;
  retry?: number;
}

/** One event larger than this (in characters) is a broken or hostile stream: the parser throws instead of buffering on. */
export const MAX_SSE_EVENT_BYTES = 4 * 1024 * 1024;

export class SseParser {
  /** The unfinished line, in the pieces it came in: joined only once its end arrives, so a long line costs linear time. */
  private pending: string[] = [];
  private pendingLength = 0;
  private data: string[] = [];
  private event: string | undefined;
  private id: string | undefined;
  private retry: number | undefined;
  private size = 0;
  private lastWasCr = false;
  private readonly decoder = new TextDecoder('utf-8');

  constructor(private readonly maxEventBytes = MAX_SSE_EVENT_BYTES) {}

  /** The events completed by `chunk` (none when it ends mid-event). Throws past maxEventBytes. */
  push(chunk: Buffer | Uint8Array | string): SseEvent[] {
    let text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    // a CRLF split across chunks: the LF belongs to the CR that ended the last line
    if (this.lastWasCr && text.startsWith('\n')) text = text.slice(1);
    this.lastWasCr = false;
    const out: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(this.takeLine(text.slice(start, i)), out);
      if (c === 13) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 10) i++;
        } else {
          this.lastWasCr = true;
        }
      }
      start = i + 1;
    }
    if (start < text.length) {
      this.pending.push(text.slice(start));
      this.pendingLength += text.length - start;
    }
    // characters, not bytes: a bound on memory, not an exact byte count
    if (this.pendingLength + this.size > this.maxEventBytes) {
      throw new Error(`an event-stream event is larger than ${this.maxEventBytes} bytes`);
    }
    return out;
  }

  /** At the end of the stream: a last event without its blank line is dispatched (as browsers do not, but providers sometimes end so). */
  end(): SseEvent[] {
    const tail = this.decoder.decode();
    const out: SseEvent[] = [];
    const rest = this.takeLine(tail);
    if (rest !== '') this.line(rest, out);
    this.dispatch(out);
    return out;
  }

  /** The pending pieces and `last` as one line; nothing is pending after. */
  private takeLine(last: string): string {
    if (this.pending.length === 0) return last;
    const line = this.pending.join('') + last;
    this.pending = [];
    this.pendingLength = 0;
    return line;
  }

  private line(line: string, out: SseEvent[]): void {
    if (line === '') {
      this.dispatch(out);
      return;
    }
    if (line.charCodeAt(0) === 58 /* : */) return; // a comment (keep-alive pings)
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case 'data': this.data.push(value); this.size += value.length + 1; break;
      case 'event': this.event = value; break;
      case 'id': if (!value.includes('\0')) this.id = value; break;
      case 'retry': if (/^\d+$/.test(value)) this.retry = Number(value); break;
      default: break; // unknown fields are ignored, as the format says
    }
  }

  private dispatch(out: SseEvent[]): void {
    if (this.data.length > 0 || this.event !== undefined) {
      const e: SseEvent = { data: this.data.join('\n') };
      if (this.event !== undefined) e.event = this.event;
      if (this.id !== undefined) e.id = this.id;
      if (this.retry !== undefined) e.retry = this.retry;
      out.push(e);
    }
    this.data = [];
    this.event = undefined;
    this.retry = undefined;
    this.size = 0;
  }
}

/** One event in the wire format, ending with its blank line; multi-line data becomes several `data:` lines. */
export function formatSse(e: SseEvent): string {
  let s = '';
  if (e.event !== undefined) s += `event: ${e.event}\n`;
  if (e.id !== undefined) s += `id: ${e.id}\n`;
  if (e.retry !== undefined) s += `retry: ${e.retry}\n`;
  for (const line of e.data.split(/\r\n|\r|\n/)) s += `data: ${line}\n`;
  return s + '\n';
}
