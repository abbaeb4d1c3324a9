// The streamed chat of the `ai` scenario: the request every client sends and the answer the bench's
// fake provider (bench/fake-llm-server.ts) streams back in OpenAI's wire format. Both sides build
// the answer here, so the preflight can check the exact body length and the fake pre-builds it once.
import type { BenchRequest } from './scenarios.js';

export const AI_PATH = '/v1/chat/completions';
export const AI_MODEL = 'bench-model';
/** Content chunks of a streamed answer (one word each), between the role chunk and the finish chunk. */
export const AI_CONTENT_CHUNKS = 16;

/**
 * The streamed chat every client sends. It asks for the usage chunk itself because ai-proxy adds
 * `stream_options.include_usage` to a streamed chat anyway: direct and through the gateway the answer is
 * then the same bytes.
 */
export const AI_CHAT_REQUEST: BenchRequest = {
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: 'Bearer bench-key' },
  body: JSON.stringify({
    model: AI_MODEL,
    messages: [
      { role: 'system', content: 'You are a terse assistant.' },
      { role: 'user', content: 'Say something about API gateways in a few words.' },
    ],
    stream: true,
    stream_options: { include_usage: true },
  }),
};

const PROMPT_TOKENS = 17;
const words = Array.from({ length: AI_CONTENT_CHUNKS }, (_, i) => `word${i}`);

const sse = (data: unknown): string => `data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;

/** The events of a streamed answer as OpenAI sends them: role chunk, content chunks, finish chunk, usage chunk when asked, `[DONE]`. */
export function streamedChatEvents(model: string, includeUsage: boolean): string[] {
  const chunk = (choices: unknown[], extra: object = {}): string =>
    sse({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1700000000, model, choices, ...extra });
  const events = [chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }])];
  for (let i = 0; i < words.length; i++) events.push(chunk([{ index: 0, delta: { content: i === 0 ? words[i] : ` ${words[i]}` }, finish_reason: null }]));
  events.push(chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]));
  if (includeUsage) events.push(chunk([], { usage: { prompt_tokens: PROMPT_TOKENS, completion_tokens: words.length, total_tokens: PROMPT_TOKENS + words.length } }));
  events.push(sse('[DONE]'));
  return events;
}

/** The non-streamed answer (`stream: false`). */
export function chatCompletion(model: string): string {
  return JSON.stringify({
    id: 'chatcmpl-bench', object: 'chat.completion', created: 1700000000, model,
    choices: [{ index: 0, message: { role: 'assistant', content: words.join(' ') }, finish_reason: 'stop' }],
    usage: { prompt_tokens: PROMPT_TOKENS, completion_tokens: words.length, total_tokens: PROMPT_TOKENS + words.length },
  });
}

/** The answer body to AI_CHAT_REQUEST, byte for byte. */
export const AI_STREAM_BODY = streamedChatEvents(AI_MODEL, true).join('');
export const AI_STREAM_BYTES = Buffer.byteLength(AI_STREAM_BODY);

/** Whether the start of a streamed answer holds a complete SSE event carrying answer text (the role chunk carries none). */
export function hasContentEvent(text: string): boolean {
  let at = 0;
  for (let end = text.indexOf('\n\n', at); end !== -1; at = end + 2, end = text.indexOf('\n\n', at)) {
    const event = text.slice(at, end);
    if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
    const content = (JSON.parse(event.slice(6)) as { choices?: { delta?: { content?: unknown } }[] }).choices?.[0]?.delta?.content;
    if (typeof content === 'string' && content !== '') return true;
  }
  return false;
}
