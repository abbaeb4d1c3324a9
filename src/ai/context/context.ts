// The per-request facts of an AI call that several plugins share: which provider and model,
// whether it streams, the tokens it used and when its first token came. ai-proxy fills it
// (from the JSON answer, or from the event stream as it passes, observing only: the bytes go
// to the client unchanged); token quotas, statistics and caches read it.
import type { PluginContext } from '../../contracts/plugin.js';
import type { AiProtocol } from '../proxy/provider.js';
import { SseParser } from '../protocol/sse.js';

export interface AiUsage {
  prompt: number;
  completion: number;
  total: number;
}

export interface AiContext {
  /** The `provider` name (`openai`, `ollama`…). */
  provider: string;
  protocol: AiProtocol;
  /** The model the client asked for (its body's `model`), else the one the configuration forces. */
  requestModel: string | undefined;
  /** The model as sent to the provider (after `options.model`). */
  sentModel: string | undefined;
  /** The model the provider says answered (its response's `model`). */
  responseModel: string | undefined;
  stream: boolean;
  /** Known once the answer carried it (the JSON body's, or a streamed chunk's `usage`). */
  usage: AiUsage | undefined;
  /** The provider's usage object as it came (nested counts such as `prompt_tokens_details` included). */
  rawUsage?: Record<string, unknown>;
  /** ms from the start of the request to the first byte of the provider's answer. */
  timeToFirstTokenMs: number | undefined;
  /** The answer's text (message contents, streamed deltas joined), at most MAX_ANSWER_CHARS. */
  answer: string;
  answerTruncated: boolean;
  /** Called with each JSON message of the answer (each streamed event's, or the whole JSON body's). */
  messageListeners?: AiMessageListener[];
}

/** Sees a parsed answer message; `streamed` tells a streamed event from a whole JSON body. */
export type AiMessageListener = (body: Record<string, unknown>, streamed: boolean) => void;

/** The most characters of an answer kept in AiContext.answer. */
export const MAX_ANSWER_CHARS = 64 * 1024;
/** A JSON (non-streamed) answer larger than this is relayed without being read for usage. */
export const MAX_OBSERVED_JSON_BYTES = 8 * 1024 * 1024;

const KEY = 'ai.context';

/** The request's AI context, once a proxying plugin started it. */
export function aiContext(ctx: PluginContext): AiContext | undefined {
  return ctx.shared.get(KEY) as AiContext | undefined;
}

/** Starts (or restarts, for a retried provider) the request's AI context. */
export function startAiContext(ctx: PluginContext,
  init: Pick<AiContext, 'provider' | 'protocol' | 'requestModel' | 'sentModel' | 'stream'>): AiContext {
  const ai: AiContext = { ...init, responseModel: undefined, usage: undefined, timeToFirstTokenMs: undefined, answer: '', answerTruncated: false };
  ctx.shared.set(KEY, ai);
  return ai;
}

/**
 * Reads a provider's answer as it passes (body_filter chunks) into `ai`: the usage, the
 * answering model, the text. An event stream is parsed event by event (bounded per event);
 * a JSON answer is kept until its end, up to MAX_OBSERVED_JSON_BYTES.
 */
export class AiResponseObserver {
  private readonly sse: SseParser | undefined;
  private json: Buffer[] | undefined;
  private jsonBytes = 0;
  private broken = false;

  constructor(private readonly ai: AiContext, private readonly startedAt: number, contentType: string | undefined) {
    const type = (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
    if (type === 'text/event-stream') this.sse = new SseParser();
    else if (type === 'application/json' || type === '') this.json = [];
  }

  chunk(chunk: Buffer): void {
    if (this.ai.timeToFirstTokenMs === undefined && chunk.length > 0) {
      this.ai.timeToFirstTokenMs = Math.round(performance.now() - this.startedAt);
    }
    if (this.broken) return;
    if (this.sse !== undefined) {
      try {
        for (const e of this.sse.push(chunk)) this.event(e.data);
      } catch {
        this.broken = true; // an oversized event: the stream goes on, unobserved
      }
    } else if (this.json !== undefined) {
      this.jsonBytes += chunk.length;
      if (this.jsonBytes > MAX_OBSERVED_JSON_BYTES) {
        this.json = undefined;
        return;
      }
      this.json.push(chunk);
    }
  }

  end(): void {
    if (this.broken) return;
    if (this.sse !== undefined) {
      try {
        for (const e of this.sse.end()) this.event(e.data);
      } catch { /* the stream is over; what was read stays */ }
    } else if (this.json !== undefined && this.jsonBytes > 0) {
      const body = parseObject(Buffer.concat(this.json).toString('utf8'));
      this.json = undefined;
      if (body !== undefined) this.message(body, false);
    }
  }

  private event(data: string): void {
    if (data === '[DONE]') return;
    const body = parseObject(data);
    if (body !== undefined) this.message(body, true);
  }

  private message(body: Record<string, unknown>, delta: boolean): void {
    if (this.ai.messageListeners !== undefined) for (const listen of this.ai.messageListeners) listen(body, delta);
    if (typeof body.model === 'string') this.ai.responseModel = body.model;
    const usage = usageOf(body.usage);
    if (usage !== undefined) {
      this.ai.usage = usage;
      this.ai.rawUsage = body.usage as Record<string, unknown>;
    }
    if (!Array.isArray(body.choices)) return;
    for (const choice of body.choices as unknown[]) {
      const part = (choice as Record<string, unknown> | null)?.[delta ? 'delta' : 'message'] as Record<string, unknown> | undefined;
      if (typeof part?.content === 'string') this.addAnswer(part.content);
    }
  }

  private addAnswer(text: string): void {
    const room = MAX_ANSWER_CHARS - this.ai.answer.length;
    if (text.length > room) this.ai.answerTruncated = true;
    if (room > 0) this.ai.answer += text.slice(0, room);
  }
}

/** `text` parsed when it is a JSON object, else undefined. */
export function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, unknown> : undefined;
  } catch {
    return undefined;
  }
}

/** OpenAI's usage object (`prompt_tokens`, `completion_tokens`, `total_tokens`); embeddings give no completion. */
function usageOf(u: unknown): AiUsage | undefined {
  if (u === null || typeof u !== 'object') return undefined;
  const o = u as Record<string, unknown>;
  const prompt = count(o.prompt_tokens);
  const completion = count(o.completion_tokens);
  if (prompt === undefined && completion === undefined) return undefined;
  const total = count(o.total_tokens) ?? (prompt ?? 0) + (completion ?? 0);
  return { prompt: prompt ?? 0, completion: completion ?? 0, total };
}

function count(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}
