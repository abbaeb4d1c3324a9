// Restoring masks and denying words in a streamed OpenAI chat answer (server-sent
// events, `choices[].delta.content`), without buffering the stream. A mask or a deny
// word may be split across chunks, so each choice holds back the tail of its content
// that could still be the start of one: at most `holdBack` UTF-16 units (the longest
// restorable mask or deny word, less one), released with the next content, at the
// choice's finish_reason, before a chunk without content (the usage chunk, `[DONE]`),
// or at the end of the stream. Events are re-encoded (`data: <json>`); those that are
// not JSON pass as they came.
import { SseParser, formatSse, type SseEvent } from '../protocol/sse.js';
import type { DenyWords, MaskSession } from './masking.js';

type Json = Record<string, unknown>;

interface ChoiceState { held: string; frame: Json }

/** Choices held back at once; a stream asking for more (n > 128) has the rest restored chunk by chunk only. */
const MAX_HELD_CHOICES = 128;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class SseAnswerMasker {
  private readonly parser = new SseParser();
  private readonly choices = new Map<number, ChoiceState>();
  readonly holdBack: number;
  /** The deny word the answer contained, once it did: the rest of the stream is dropped. */
  denied: string | undefined;

  /** `denyEvents`: what the client gets instead of the answer from the chunk that had a deny word on. */
  constructor(private readonly session: MaskSession, private readonly deny: DenyWords, private readonly denyEvents: string) {
    this.holdBack = Math.max(session.maxMaskLength, deny.maxLength, 1) - 1;
  }

  /** The bytes to send for `chunk` (possibly none yet). */
  push(chunk: Buffer): string {
    if (this.denied !== undefined) return '';
    return this.events(this.parser.push(chunk));
  }

  end(): string {
    if (this.denied !== undefined) return '';
    return this.events(this.parser.end()) + this.flushAll();
  }

  private events(events: SseEvent[]): string {
    let out = '';
    for (const e of events) {
      out += this.event(e);
      if (this.denied !== undefined) return out + this.denyEvents;
    }
    return out;
  }

  private event(e: SseEvent): string {
    let json: unknown;
    try {
      json = e.data === '[DONE]' ? undefined : JSON.parse(e.data);
    } catch {
      json = undefined;
    }
    if (!isObject(json) || !Array.isArray(json.choices) || json.choices.length === 0) return this.flushAll() + formatSse(e);
    let before = '';
    let changed = false;
    for (const [i, choice] of json.choices.entries()) {
      if (!isObject(choice)) continue;
      const index = typeof choice.index === 'number' ? choice.index : i;
      const delta = choice.delta;
      const state = this.state(index, json);
      if (isObject(delta) && typeof delta.content === 'string') {
        const text = (state?.held ?? '') + delta.content;
        this.denied = this.deny.find(text);
        if (this.denied !== undefined) return '';
        const finished = choice.finish_reason != null;
        let cut = finished || state === undefined ? text.length : text.length - this.holdBack;
        cut = this.session.safeCut(text, Math.max(cut, 0));
        if (cut > 0 && cut < text.length && (text.charCodeAt(cut - 1) & 0xfc00) === 0xd800) cut--; // not inside a surrogate pair
        delta.content = this.session.restore(text.slice(0, cut));
        if (state !== undefined) state.held = text.slice(cut);
        changed = true;
      } else if (state !== undefined && state.held !== '') {
        if (isObject(delta)) {
          delta.content = this.session.restore(state.held);
          changed = true;
        } else {
          before += this.flushChoice(index, state);
        }
        state.held = '';
      }
    }
    return before + (changed ? formatSse({ ...e, data: JSON.stringify(json) }) : formatSse(e));
  }

  private state(index: number, json: Json): ChoiceState | undefined {
    let s = this.choices.get(index);
    if (s === undefined && this.choices.size < MAX_HELD_CHOICES) {
      // what a flushed chunk of this choice repeats of the stream's chunks: id, model, created …
      const { choices: _c, usage: _u, ...frame } = json;
      s = { held: '', frame };
      this.choices.set(index, s);
    }
    return s;
  }

  private flushChoice(index: number, state: ChoiceState): string {
    const data = { ...state.frame, choices: [{ index, delta: { content: this.session.restore(state.held) }, finish_reason: null }] };
    return formatSse({ data: JSON.stringify(data) });
  }

  private flushAll(): string {
    let out = '';
    for (const [index, state] of this.choices) {
      if (state.held === '') continue;
      out += this.flushChoice(index, state);
      state.held = '';
    }
    return out;
  }
}
