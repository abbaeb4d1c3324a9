// ai-cache's reading of an answer as it passes: the text at `cacheValueFrom` of a JSON answer
// (kept until its end, bounded), or the texts at `cacheStreamValueFrom` of a stream's events
// joined (one event at a time). What must not be cached says so: an answer that calls tools,
// reports an error, is cut off (a stream without its end), or is larger than the bound.
import { MAX_ANSWER_CHARS, MAX_OBSERVED_JSON_BYTES, parseObject as parse } from './context.js';
import { gjsonGet, gjsonString, type GjsonPath } from '../json-path/gjson-path.js';
import { SseParser } from '../protocol/sse.js';

export type CapturedAnswer = { ok: true; answer: string } | { ok: false; reason: string };

export class AnswerCapture {
  private readonly sse: SseParser | undefined;
  private json: Buffer[] | undefined = [];
  private jsonBytes = 0;
  private answer = '';
  private problem: string | undefined;
  private finished = false;

  constructor(contentType: string | undefined, private readonly valuePath: GjsonPath, private readonly streamValuePath: GjsonPath) {
    const type = (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
    if (type === 'text/event-stream') {
      this.sse = new SseParser();
      this.json = undefined;
    } else if (type !== 'application/json' && type !== '') {
      this.problem = `content-type ${type}`;
    }
  }

  chunk(chunk: Buffer): void {
    if (this.problem !== undefined) return;
    if (this.sse !== undefined) {
      try {
        for (const e of this.sse.push(chunk)) this.event(e.data);
      } catch {
        this.problem = 'an event over the size bound';
      }
      return;
    }
    if ((this.jsonBytes += chunk.length) > MAX_OBSERVED_JSON_BYTES) {
      this.problem = 'answer over the size bound';
      this.json = undefined;
      return;
    }
    this.json!.push(chunk);
  }

  end(): CapturedAnswer {
    if (this.problem === undefined && this.sse !== undefined) {
      try {
        for (const e of this.sse.end()) this.event(e.data);
      } catch { /* the stream is over */ }
      if (this.problem === undefined && !this.finished) this.problem = 'the stream ended without [DONE] or a finish_reason';
    } else if (this.problem === undefined) {
      const body = parse(Buffer.concat(this.json!).toString('utf8'));
      this.json = undefined;
      if (body === undefined) this.problem = 'not a JSON object';
      else {
        this.check(body, 'message');
        if (this.problem === undefined) this.add(gjsonString(gjsonGet(body, this.valuePath)));
      }
    }
    if (this.problem !== undefined) return { ok: false, reason: this.problem };
    if (this.answer === '') return { ok: false, reason: 'no answer text' };
    return { ok: true, answer: this.answer };
  }

  private event(data: string): void {
    if (this.problem !== undefined) return;
    if (data === '[DONE]') {
      this.finished = true;
      return;
    }
    const body = parse(data);
    if (body === undefined) return;
    this.check(body, 'delta');
    if (this.problem === undefined) this.add(gjsonString(gjsonGet(body, this.streamValuePath)));
  }

  /** Refuses answers with an error, tool calls, or a finish other than stop; notes a stream's finish. */
  private check(body: Record<string, unknown>, part: 'message' | 'delta'): void {
    if (body.error !== undefined && body.error !== null) {
      this.problem = 'an error answer';
      return;
    }
    if (!Array.isArray(body.choices)) return;
    for (const c of body.choices as unknown[]) {
      const choice = (c ?? {}) as Record<string, unknown>;
      const said = (choice[part] ?? {}) as Record<string, unknown>;
      if ((Array.isArray(said.tool_calls) && said.tool_calls.length > 0) || (said.function_call !== undefined && said.function_call !== null)) {
        this.problem = 'a tool call';
        return;
      }
      const reason = choice.finish_reason;
      if (typeof reason === 'string') {
        if (reason !== 'stop') { // `length` is an answer cut short
          this.problem = `finish_reason ${reason}`;
          return;
        }
        this.finished = true;
      }
    }
  }

  private add(text: string): void {
    if (this.answer.length + text.length > MAX_ANSWER_CHARS) this.problem = 'answer over the size bound';
    else this.answer += text;
  }
}
