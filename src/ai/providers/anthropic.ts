// Anthropic's messages API, behind the OpenAI chat format clients speak to the gateway: the
// chat request becomes a messages request (system messages lifted into `system`, max_tokens
// always given, as Anthropic requires), and the answer becomes an OpenAI chat completion,
// JSON or streamed (Anthropic's message_start / content_block_delta / message_delta /
// message_stop events become chat.completion.chunk events ending with usage and [DONE]).
// Tool calling is not converted: a chat that uses tools is refused (400), not sent without them.
// Authentication is Anthropic's `x-api-key` header (`auth.header: {"x-api-key": "..."}`);
// `anthropic-version` is sent unless the client or auth gives one.
import type { JsonObject } from '../protocol/json-body.js';
import { UnconvertibleRequest, type ProviderAdapter, type ResponseConverter } from '../proxy/provider.js';
import { formatSse, SseParser } from '../protocol/sse.js';

export const ANTHROPIC_VERSION = '2023-06-01';
/** Anthropic refuses a request without max_tokens; OpenAI clients often give none. */
export const DEFAULT_MAX_TOKENS = 4096;
/** A JSON answer larger than this is relayed unconverted (it is held whole to be converted). */
const MAX_CONVERTED_JSON_BYTES = 8 * 1024 * 1024;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

const FINISH: Record<string, string> = { end_turn: 'stop', stop_sequence: 'stop', max_tokens: 'length', tool_use: 'tool_calls' };
const finishReason = (stop: unknown): string | null => (typeof stop === 'string' ? FINISH[stop] ?? 'stop' : null);

/** An OpenAI message content (a string or parts) as Anthropic content blocks. */
function contentBlocks(content: unknown): unknown {
  if (!Array.isArray(content)) return typeof content === 'string' ? content : String(content ?? '');
  return content.map((part: unknown) => {
    if (!isObj(part)) return { type: 'text', text: String(part) };
    if (part.type === 'image_url') {
      const url = isObj(part.image_url) ? part.image_url.url : part.image_url;
      const data = typeof url === 'string' ? /^data:([^;]+);base64,(.*)$/s.exec(url) : null;
      return data !== null
        ? { type: 'image', source: { type: 'base64', media_type: data[1], data: data[2] } }
        : { type: 'image', source: { type: 'url', url } };
    }
    return { type: 'text', text: typeof part.text === 'string' ? part.text : '' };
  });
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((p: unknown) => (isObj(p) && typeof p.text === 'string' ? p.text : '')).join('');
}

/** An OpenAI chat request as an Anthropic messages request. */
export function toAnthropicRequest(body: JsonObject): JsonObject {
  for (const field of ['tools', 'tool_choice', 'functions', 'function_call'] as const) {
    if (body[field] !== undefined) throw new UnconvertibleRequest(`${field}: tool calling is not converted for provider anthropic`);
  }
  if (typeof body.n === 'number' && body.n > 1) throw new UnconvertibleRequest('n: provider anthropic gives one choice per request');
  const system: string[] = [];
  const messages: Obj[] = [];
  for (const m of Array.isArray(body.messages) ? body.messages : []) {
    if (!isObj(m)) continue;
    if (m.role === 'tool' || m.tool_calls !== undefined) throw new UnconvertibleRequest('messages: tool calling is not converted for provider anthropic');
    if (m.role === 'system' || m.role === 'developer') system.push(textOf(m.content));
    else messages.push({ role: m.role === 'assistant' ? 'assistant' : 'user', content: contentBlocks(m.content) });
  }
  const out: JsonObject = {
    model: body.model,
    messages,
    max_tokens: body.max_completion_tokens ?? body.max_tokens ?? DEFAULT_MAX_TOKENS,
  };
  if (system.length > 0) out.system = system.join('\n\n');
  for (const k of ['temperature', 'top_p', 'top_k', 'stream', 'metadata'] as const) if (body[k] !== undefined) out[k] = body[k];
  if (body.stop !== undefined) out.stop_sequences = Array.isArray(body.stop) ? body.stop : [body.stop];
  if (typeof body.user === 'string' && out.metadata === undefined) out.metadata = { user_id: body.user };
  return out;
}

function openAiUsage(input: number, output: number): Obj {
  return { prompt_tokens: input, completion_tokens: output, total_tokens: input + output };
}

/** An Anthropic answer (message or error) as OpenAI's chat completion or error object. */
export function toOpenAiResponse(msg: Obj): Obj {
  if (msg.type === 'error' || isObj(msg.error)) {
    const e = isObj(msg.error) ? msg.error : {};
    return { error: { message: e.message ?? 'provider error', type: e.type ?? 'error', code: null } };
  }
  const usage = isObj(msg.usage) ? msg.usage : {};
  return {
    id: msg.id,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: msg.model,
    choices: [{ index: 0, message: { role: 'assistant', content: textOf(msg.content) }, finish_reason: finishReason(msg.stop_reason) }],
    usage: openAiUsage(Number(usage.input_tokens ?? 0), Number(usage.output_tokens ?? 0)),
  };
}

function jsonConverter(): ResponseConverter {
  let parts: Buffer[] | undefined = [];
  let size = 0;
  return (chunk, eof) => {
    if (parts === undefined) return chunk; // too large: relayed as it came
    parts.push(chunk);
    size += chunk.length;
    if (size > MAX_CONVERTED_JSON_BYTES) {
      const held = Buffer.concat(parts);
      parts = undefined;
      return held;
    }
    if (!eof) return Buffer.alloc(0);
    const raw = Buffer.concat(parts);
    parts = undefined;
    let msg: unknown;
    try { msg = JSON.parse(raw.toString('utf8')); } catch { return raw; }
    return isObj(msg) ? Buffer.from(JSON.stringify(toOpenAiResponse(msg))) : raw;
  };
}

/** Anthropic's event stream as OpenAI chat.completion.chunk events, event by event (never held whole). */
function streamConverter(): ResponseConverter {
  const parser = new SseParser();
  let id = '';
  let model = '';
  let input = 0;
  let output = 0;
  const created = Math.floor(Date.now() / 1000);
  const chunk = (choices: unknown[], extra: Obj = {}): string =>
    formatSse({ data: JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices, ...extra }) });
  const convert = (data: string): string => {
    let e: unknown;
    try { e = JSON.parse(data); } catch { return ''; }
    if (!isObj(e)) return '';
    switch (e.type) {
      case 'message_start': {
        const m = isObj(e.message) ? e.message : {};
        id = String(m.id ?? '');
        model = String(m.model ?? '');
        const u = isObj(m.usage) ? m.usage : {};
        input = Number(u.input_tokens ?? 0);
        output = Number(u.output_tokens ?? 0);
        return chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]);
      }
      case 'content_block_delta': {
        const d = isObj(e.delta) ? e.delta : {};
        return typeof d.text === 'string' ? chunk([{ index: 0, delta: { content: d.text }, finish_reason: null }]) : '';
      }
      case 'message_delta': {
        const u = isObj(e.usage) ? e.usage : {};
        if (typeof u.output_tokens === 'number') output = u.output_tokens;
        const d = isObj(e.delta) ? e.delta : {};
        return chunk([{ index: 0, delta: {}, finish_reason: finishReason(d.stop_reason) }]);
      }
      case 'message_stop':
        return chunk([], { usage: openAiUsage(input, output) }) + formatSse({ data: '[DONE]' });
      case 'error':
        return formatSse({ data: JSON.stringify(toOpenAiResponse(e)) });
      default:
        return ''; // ping, content_block_start/stop
    }
  };
  return (buf, eof) => {
    let out = '';
    try {
      for (const e of parser.push(buf)) out += convert(e.data);
      if (eof) for (const e of parser.end()) out += convert(e.data);
    } catch {
      out += formatSse({ data: JSON.stringify({ error: { message: 'the provider sent an oversized event', type: 'gateway_error' } }) });
    }
    return Buffer.from(out);
  };
}

const adapter: ProviderAdapter = {
  name: 'anthropic',
  origin: 'https://api.anthropic.com',
  paths: { 'openai-chat': '/v1/messages' },
  defaultHeaders: { 'anthropic-version': ANTHROPIC_VERSION },
  convertRequest: (body, protocol) => (protocol === 'openai-chat' ? toAnthropicRequest(body) : body),
  responseConverter(protocol, contentType) {
    if (protocol !== 'openai-chat') return undefined;
    const type = (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
    if (type === 'text/event-stream') return streamConverter();
    if (type === 'application/json') return jsonConverter();
    return undefined;
  },
};

export default adapter;
