// The references ai-network-search adds to a model's answer (Higress ai-search's
// needReference): at the head (after a leading `<think>…</think>` block when there is one)
// or at the tail of `choices[0]`'s content, in a JSON answer or in streamed chunks.
import { formatSse, SseParser } from '../protocol/sse.js';

export type ReferenceLocation = 'head' | 'tail';

type Obj = Record<string, unknown>;

/** `content` with `references` (already formatted) added where `location` says. */
export function withReferences(content: string, references: string, location: ReferenceLocation): string {
  if (location === 'tail') return `${content}\n\n${references}`;
  if (content.trimStart().startsWith('<think>')) {
    const end = content.indexOf('</think>');
    if (end >= 0) return `${content.slice(0, end + 8)}\n${references}\n\n${content.slice(end + 8)}`;
  }
  return `${references}\n\n${content}`;
}

const firstChoice = (doc: unknown): Obj | undefined => {
  const choices = (doc as Obj | null)?.choices;
  const first = Array.isArray(choices) ? choices[0] : undefined;
  return first !== null && typeof first === 'object' ? first as Obj : undefined;
};

/** A chat completion with the references in `choices[0].message.content`; undefined when it is not one. */
export function answerWithReferences(body: Buffer, references: string, location: ReferenceLocation): string | undefined {
  let doc: unknown;
  try { doc = JSON.parse(body.toString('utf8')); } catch { return undefined; }
  const message = firstChoice(doc)?.message as Obj | undefined;
  if (message === null || typeof message !== 'object' || typeof message.content !== 'string') return undefined;
  message.content = withReferences(message.content, references, location);
  return JSON.stringify(doc);
}

/**
 * Adds the references to a stream of chat completion chunks, event by event (one event is
 * held at most, as SseParser bounds it): at the head, to the first chunk whose
 * `choices[0].delta.content` is not empty; at the tail, to the chunk whose finish_reason is
 * `stop`. Events it does not change are written back as they were parsed.
 */
export class StreamReferences {
  private readonly parser = new SseParser();
  private done = false;

  constructor(private readonly references: string, private readonly location: ReferenceLocation) {}

  push(chunk: Buffer): string {
    return this.write(this.parser.push(chunk));
  }

  end(): string {
    return this.write(this.parser.end());
  }

  private write(events: ReturnType<SseParser['push']>): string {
    let out = '';
    for (const e of events) {
      if (!this.done && e.data !== '[DONE]') {
        const data = this.rewrite(e.data);
        if (data !== undefined) {
          this.done = true;
          out += formatSse({ ...e, data });
          continue;
        }
      }
      out += formatSse(e);
    }
    return out;
  }

  private rewrite(data: string): string | undefined {
    let doc: unknown;
    try { doc = JSON.parse(data); } catch { return undefined; }
    const choice = firstChoice(doc);
    const delta = choice?.delta as Obj | undefined;
    if (delta === null || typeof delta !== 'object') return undefined;
    const content = typeof delta.content === 'string' ? delta.content : '';
    if (this.location === 'tail') {
      if (choice!.finish_reason !== 'stop') return undefined;
      delta.content = `${content}\n\n${this.references}`;
    } else {
      if (content === '') return undefined;
      delta.content = `${this.references}\n\n${content}`;
    }
    return JSON.stringify(doc);
  }
}
