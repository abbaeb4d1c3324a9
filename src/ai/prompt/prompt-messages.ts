// Adding prompt messages to a request body in the shape of the API it is written for, as
// APISIX's ai-protocols modules do for ai-prompt-decorator (and its other prompt plugins).
// The shape is told from the body and the request path, first match wins: Bedrock Converse
// (path ends /converse, `messages`), Anthropic messages (path ends /v1/messages), OpenAI
// Responses (path ends /v1/responses, `input`), OpenAI chat (`messages`), then shapes that
// take no messages (embeddings: `input`; any other non-empty object: passthrough). An empty
// object is taken as chat. The body is never changed in place: a new one is returned.
import type { JsonObject } from '../protocol/json-body.js';

export type PromptProtocol =
  | 'bedrock-converse' | 'anthropic-messages' | 'openai-responses' | 'openai-chat' | 'openai-embeddings' | 'passthrough';

export interface PromptMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** A configured message as APISIX's prompt plugins declare it (other fields are not refused by this schema). */
export const PROMPT_MESSAGE_SCHEMA = {
  type: 'object',
  properties: {
    role: { type: 'string', enum: ['system', 'user', 'assistant'] },
    content: { type: 'string', minLength: 1 },
  },
  required: ['role', 'content'],
} as const;

// Lua tables: what APISIX's `type(x) == "table"` accepts (JSON objects and arrays).
const isTable = (v: unknown): boolean => v !== null && typeof v === 'object';
const has = (body: JsonObject, key: string): boolean => Object.hasOwn(body, key);

export function detectPromptProtocol(body: JsonObject, uri: string): PromptProtocol {
  if (uri.endsWith('/converse') && isTable(body.messages)) return 'bedrock-converse';
  if (uri.endsWith('/v1/messages')) return 'anthropic-messages';
  if (uri.endsWith('/v1/responses') && has(body, 'input')) return 'openai-responses';
  if (isTable(body.messages)) return 'openai-chat';
  if (has(body, 'input')) return 'openai-embeddings';
  if (Object.keys(body).length > 0) return 'passthrough';
  return 'openai-chat';
}

/** A body field that is a message list: absent gives a new empty list; not an array is refused. */
function list(body: JsonObject, key: string): unknown[] {
  const v = body[key];
  if (v === undefined || !has(body, key)) return [];
  if (!Array.isArray(v)) throw new PromptShapeError(`${key} must be an array`);
  return v;
}

/** A request whose shape cannot take the messages (e.g. `messages` an object); APISIX fails on these with a 500. */
export class PromptShapeError extends Error {}

const copy = (m: PromptMessage): PromptMessage => ({ role: m.role, content: m.content });
const joined = (msgs: readonly PromptMessage[]): string => msgs.map((m) => m.content).join('\n');

function chat(body: JsonObject, prepend: readonly PromptMessage[], append: readonly PromptMessage[]): JsonObject {
  if (prepend.length === 0 && append.length === 0) return body;
  return { ...body, messages: [...prepend.map(copy), ...list(body, 'messages'), ...append.map(copy)] };
}

function responses(body: JsonObject, prepend: readonly PromptMessage[], append: readonly PromptMessage[]): JsonObject {
  const out = { ...body };
  if (prepend.length > 0) {
    const text = joined(prepend);
    out.instructions = typeof body.instructions === 'string' ? `${text}\n${body.instructions}` : text;
  }
  if (append.length > 0) {
    const text = joined(append);
    const input = body.input;
    if (typeof input === 'string') out.input = `${input}\n${text}`;
    else if (Array.isArray(input)) out.input = [...input, { type: 'message', role: 'user', content: text }];
    else if (isTable(input)) throw new PromptShapeError('input must be a string or an array');
    else out.input = text;
  }
  return out;
}

// Converse keeps system prompts in `system` ([{text}]) and message contents as [{text}] blocks.
function bedrock(body: JsonObject, prepend: readonly PromptMessage[], append: readonly PromptMessage[]): JsonObject {
  const block = (m: PromptMessage): JsonObject => ({ text: m.content });
  const message = (m: PromptMessage): JsonObject => ({ role: m.role, content: [{ text: m.content }] });
  const isSystem = (m: PromptMessage): boolean => m.role === 'system';
  const out = { ...body };
  const system = Array.isArray(body.system) ? body.system : [];
  const before = prepend.filter(isSystem).map(block);
  const after = append.filter(isSystem).map(block);
  if (before.length > 0 || after.length > 0) out.system = [...before, ...system, ...after];
  const first = prepend.filter((m) => !isSystem(m)).map(message);
  const last = append.filter((m) => !isSystem(m)).map(message);
  if (first.length > 0 || last.length > 0) out.messages = [...first, ...list(body, 'messages'), ...last];
  return out;
}

/**
 * `body` with `prepend` before and `append` after its messages, in the shape `protocol`
 * takes; embeddings and passthrough bodies come back unchanged. Throws PromptShapeError.
 */
export function addPromptMessages(body: JsonObject, protocol: PromptProtocol,
  prepend: readonly PromptMessage[], append: readonly PromptMessage[]): JsonObject {
  switch (protocol) {
    case 'openai-chat':
    case 'anthropic-messages': return chat(body, prepend, append);
    case 'openai-responses': return responses(body, prepend, append);
    case 'bedrock-converse': return bedrock(body, prepend, append);
    case 'openai-embeddings':
    case 'passthrough': return body;
  }
}
