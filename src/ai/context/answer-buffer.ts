// A JSON answer an AI plugin reads whole (to check or rewrite it) is held until its end,
// bounded by node.max_buffered_body_size: an answer growing past the bound goes on as it
// is, from what was held to its last chunk, unread (HeldBody, with the pass-through after).
import type { PluginResponse } from '../../contracts/plugin.js';
import { HeldBody } from './held-body.js';

export class AnswerBuffer {
  private readonly held: HeldBody;

  constructor(limit: number) {
    this.held = new HeldBody(limit);
  }

  /**
   * The bytes to send for `chunk`: nothing (an empty Buffer) while the answer is held,
   * `finish(answer)` at `eof`. Past `limit` bytes `onOverflow()` is called and what was
   * held goes on, then every later chunk as it comes.
   */
  push<R>(chunk: Buffer, eof: boolean, finish: (answer: Buffer) => R, onOverflow: () => void): Buffer | R {
    if (!this.held.holding) return chunk;
    const r = this.held.push(chunk, eof);
    if (r.kind === 'held') return Buffer.alloc(0);
    if (r.kind === 'overflow') {
      onOverflow();
      return r.body;
    }
    return r.body.length === 0 ? r.body : finish(r.body);
  }
}

/**
 * How an answer can be read: as an event stream, or whole (an AnswerBuffer); or why it
 * passes unread: compressed (`Content-Encoding`), or announced larger than the bound.
 */
export function answerReading(response: PluginResponse, limit: number): 'stream' | 'whole' | 'encoded' | 'too_large' {
  const encoding = response.header('content-encoding');
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') return 'encoded';
  if ((response.header('content-type') ?? '').toLowerCase().startsWith('text/event-stream')) return 'stream';
  const length = response.header('content-length');
  return length !== undefined && Number(length) > limit ? 'too_large' : 'whole';
}
