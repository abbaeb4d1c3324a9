import type { ServerResponse } from 'node:http';
import type { TestCert } from './certs.js';
import { startLoopbackServer, type ReceivedRequest } from './loopback-server.js';

// A model provider on loopback speaking OpenAI's wire format, for every AI plugin's tests:
// chat completions as JSON or as server-sent events (the answer word by word, usage in a
// last chunk when `stream_options.include_usage` asks for it, then `[DONE]`), embeddings,
// scripted failures (429, 5xx) and streams it can slow down or hold, or answers a `respond`
// function picks from the request (for the plugins that call a model themselves: ai-intent,
// ai-json, ai-transformer; DashScope's native shape too). Requests to a path
// ending in `/v1/messages` get Anthropic's messages format instead (a message, or its event
// stream: message_start, content_block_delta per word, message_delta, message_stop). It
// records every request. Token counts are words: a prompt's (all message contents and the
// system prompt) and the answer's.

export interface FakeLlmRequest extends ReceivedRequest {
  /** The body parsed as JSON (undefined when it is not JSON). */
  json: any;
}

/** A scripted answer for one request: status, body (object → JSON) and headers, sent after `delayMs`. */
export interface FakeLlmReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  delayMs?: number;
}

/** What `respond` picks for a request: a chat answer with this text (DashScope's native shape with `dashscope`), or a scripted reply. */
export type FakeLlmAnswer = { content: string; dashscope?: boolean; delayMs?: number } | FakeLlmReply;

export interface FakeLlmOptions {
  /** Picks the answer from the last message's text (OpenAI's `messages` or DashScope's `input.messages`) and the request. */
  respond?: (lastMessage: string, json: any, req: FakeLlmRequest) => FakeLlmAnswer;
  /** The chat answer's text (default "Hello from the fake model"). */
  answer?: string;
  /** Delay between streamed chunks, in ms (default 0). */
  chunkDelayMs?: number;
  /** HTTPS with this certificate. */
  tls?: TestCert;
}

export interface FakeLlm {
  url: string;
  port: number;
  /** Requests received, oldest first. */
  requests: FakeLlmRequest[];
  /** The latest request (throws when there is none). */
  last(): FakeLlmRequest;
  /** The chat answer's text from now on. */
  answer: string;
  chunkDelayMs: number;
  /** The next requests get these replies, one each, before normal answers resume. */
  queue(...replies: FakeLlmReply[]): void;
  /**
   * The next streamed answer stops after its first chunk until the returned function is
   * called; `firstChunkWritten` resolves once that first chunk was written.
   */
  holdNextStream(): { release(): void; firstChunkWritten: Promise<void> };
  /** How many streamed answers were completed (their `[DONE]` written). */
  streamsFinished: number;
  close(): Promise<void>;
}

const words = (s: string): string[] => s.split(/\s+/).filter((w) => w !== '');

function textWords(content: unknown): number {
  if (typeof content === 'string') return words(content).length;
  if (!Array.isArray(content)) return 0;
  return content.reduce((n: number, part: any) => n + (typeof part?.text === 'string' ? words(part.text).length : 0), 0);
}

function promptWords(json: any): number {
  const messages: unknown[] = Array.isArray(json?.messages) ? json.messages : [];
  return messages.reduce((n: number, m: any) => n + textWords(m?.content), textWords(json?.system));
}

/** Server-sent events with a type (Anthropic's) or without (OpenAI's). */
const sse = (data: unknown, event?: string): string =>
  `${event === undefined ? '' : `event: ${event}\n`}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;

function openAiEvents(model: string, parts: string[], usage: object | undefined): string[] {
  const chunk = (choices: unknown[], extra: object = {}): string =>
    sse({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1700000000, model, choices, ...extra });
  const events = parts.map((w, i) => chunk([{ index: 0, delta: i === 0 ? { role: 'assistant', content: w } : { content: ` ${w}` }, finish_reason: null }]));
  events.push(chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]));
  if (usage !== undefined) events.push(chunk([], { usage }));
  events.push(sse('[DONE]'));
  return events;
}

function anthropicEvents(model: string, parts: string[], prompt: number): string[] {
  return [
    sse({ type: 'message_start', message: { id: 'msg_fake', type: 'message', role: 'assistant', model, content: [], stop_reason: null, usage: { input_tokens: prompt, output_tokens: 1 } } }, 'message_start'),
    sse({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }, 'content_block_start'),
    sse({ type: 'ping' }, 'ping'),
    ...parts.map((w, i) => sse({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: i === 0 ? w : ` ${w}` } }, 'content_block_delta')),
    sse({ type: 'content_block_stop', index: 0 }, 'content_block_stop'),
    sse({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: parts.length } }, 'message_delta'),
    sse({ type: 'message_stop' }, 'message_stop'),
  ];
}

export async function startFakeLlm(opts: FakeLlmOptions = {}): Promise<FakeLlm> {
  const replies: FakeLlmReply[] = [];
  let hold: { release: Promise<void>; written: () => void } | undefined;
  const llm: FakeLlm = {
    url: '', port: 0, requests: [], answer: opts.answer ?? 'Hello from the fake model', chunkDelayMs: opts.chunkDelayMs ?? 0,
    streamsFinished: 0,
    last() {
      const r = llm.requests.at(-1);
      if (r === undefined) throw new Error('the fake provider got no request');
      return r;
    },
    queue(...r) { replies.push(...r); },
    holdNextStream() {
      let release!: () => void;
      let written!: () => void;
      const firstChunkWritten = new Promise<void>((res) => { written = res; });
      hold = { release: new Promise<void>((res) => { release = res; }), written };
      return { release, firstChunkWritten };
    },
    close: async () => { await new Promise<void>((res) => { server.server.closeAllConnections(); server.server.close(() => res()); }); },
  };

  const responded = (req: FakeLlmRequest): FakeLlmReply | undefined => {
    if (opts.respond === undefined) return undefined;
    const messages: any[] = req.json?.messages ?? req.json?.input?.messages ?? [];
    const picked = opts.respond(String(messages.at(-1)?.content ?? ''), req.json, req);
    if (!('content' in picked)) return picked;
    const prompt = promptWords(req.json?.input ?? req.json);
    const completion = words(picked.content).length;
    const body = picked.dashscope === true
      ? { output: { text: picked.content, finish_reason: 'stop' }, usage: { input_tokens: prompt, output_tokens: completion } }
      : { id: 'chatcmpl-fake', object: 'chat.completion', created: 1700000000, model: req.json?.model ?? 'fake-model',
          choices: [{ index: 0, message: { role: 'assistant', content: picked.content }, finish_reason: 'stop' }],
          usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion } };
    return { status: 200, body, ...(picked.delayMs !== undefined ? { delayMs: picked.delayMs } : {}) };
  };

  const answer = (req: ReceivedRequest, res: ServerResponse): void => {
    let json: any;
    try { json = JSON.parse(req.body.toString('utf8')); } catch { json = undefined; }
    llm.requests.push({ ...req, json });
    const scripted = replies.shift() ?? responded(llm.requests.at(-1)!);
    if (scripted !== undefined) {
      const isObject = scripted.body !== undefined && typeof scripted.body === 'object' && !Buffer.isBuffer(scripted.body);
      const send = (): void => {
        if (res.destroyed) return;
        res.writeHead(scripted.status, { 'content-type': isObject ? 'application/json' : 'text/plain', ...scripted.headers });
        res.end(isObject ? JSON.stringify(scripted.body) : (scripted.body as string | Buffer | undefined));
      };
      if (scripted.delayMs === undefined) send();
      else setTimeout(send, scripted.delayMs).unref();
      return;
    }
    const model = typeof json?.model === 'string' ? json.model : 'fake-model';
    if (json?.input !== undefined) {
      const inputs: unknown[] = Array.isArray(json.input) ? json.input : [json.input];
      sendJson(res, {
        object: 'list', model,
        data: inputs.map((_, index) => ({ object: 'embedding', index, embedding: [0.1, 0.2, 0.3] })),
        usage: { prompt_tokens: inputs.length, total_tokens: inputs.length },
      });
      return;
    }
    const prompt = promptWords(json);
    const parts = words(llm.answer);
    const anthropic = req.url.split('?', 1)[0]!.endsWith('/v1/messages');
    const usage = { prompt_tokens: prompt, completion_tokens: parts.length, total_tokens: prompt + parts.length };
    if (json?.stream === true) {
      const h = hold;
      hold = undefined;
      void stream(res, anthropic ? anthropicEvents(model, parts, prompt)
        : openAiEvents(model, parts, json?.stream_options?.include_usage === true ? usage : undefined), h);
      return;
    }
    if (anthropic) {
      sendJson(res, {
        id: 'msg_fake', type: 'message', role: 'assistant', model, content: [{ type: 'text', text: llm.answer }],
        stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: prompt, output_tokens: parts.length },
      });
      return;
    }
    sendJson(res, {
      id: 'chatcmpl-fake', object: 'chat.completion', created: 1700000000, model,
      choices: [{ index: 0, message: { role: 'assistant', content: llm.answer }, finish_reason: 'stop' }],
      usage,
    });
  };

  async function stream(res: ServerResponse, events: string[], h: { release: Promise<void>; written: () => void } | undefined): Promise<void> {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    for (let i = 0; i < events.length; i++) {
      if (res.destroyed) return;
      // backpressure: a client that stops reading stops the fake provider too
      if (!res.write(events[i])) await new Promise((r) => res.once('drain', r));
      if (i === 0 && h !== undefined) {
        h.written();
        await h.release;
      } else if (llm.chunkDelayMs > 0) {
        await new Promise((r) => setTimeout(r, llm.chunkDelayMs));
      }
    }
    res.end();
    llm.streamsFinished++;
  }

  const server = await startLoopbackServer(answer, { tls: opts.tls });
  llm.url = server.url;
  llm.port = Number(new URL(server.url).port);
  return llm;
}

function sendJson(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
