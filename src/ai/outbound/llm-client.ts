// The chat call the AI plugins make themselves (ai-intent classifies a prompt, ai-json
// re-asks for valid JSON, ai-transformer rewrites a body): one POST of an OpenAI-compatible
// chat completion (or DashScope's native text-generation API, which ai-transformer's
// Higress original calls) to a configured URL, bounded in time and in the size of the answer
// read (through service-call.ts). Connections are pooled per target origin, so a busy route
// reuses them.
import { Pool, request } from 'undici';
import type { JsonObject } from '../protocol/json-body.js';
import { sendBounded, ServiceCallError, type ServiceConnections } from './service-call.js';

export interface ChatMessage { role: string; content: string }

export interface LlmTarget {
  /** The full chat URL (scheme, host, port, path). */
  url: string;
  /** Sent as `Authorization: Bearer <apiKey>` when set. */
  apiKey?: string;
  /** The Host header when it must differ from the URL's host (Higress's proxyDomain). */
  hostHeader?: string;
  /** ms for the whole call, connect to last byte. */
  timeoutMs: number;
  /** Most bytes of the answer read; a larger one is an error. */
  maxAnswerBytes?: number;
}

export interface LlmUsage { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number }

export type LlmErrorKind = 'timeout' | 'aborted' | 'network' | 'status' | 'too_large' | 'not_json';

export type LlmReply =
  | { ok: true; status: number; json: JsonObject; text: string | undefined; usage: LlmUsage | undefined }
  | { ok: false; kind: LlmErrorKind; message: string; status?: number };

export const DEFAULT_MAX_ANSWER_BYTES = 1024 * 1024;

// A pool per origin and TLS host (Higress's proxyDomain may differ from the URL's host); the
// origins come from route configs, so the map grows only with the configured targets.
const pools = new Map<string, ServiceConnections>();
function poolFor(origin: string, servername: string | undefined): ServiceConnections {
  const key = `${origin}|${servername ?? ''}`;
  let connections = pools.get(key);
  if (connections === undefined) {
    const dispatcher = new Pool(origin, { connections: 64, keepAliveTimeout: 60_000, connect: servername === undefined ? {} : { servername } });
    connections = { request: (url, opts) => request(url, { ...opts, dispatcher }) };
    pools.set(key, connections);
  }
  return connections;
}

const FAILURE_MESSAGE = {
  timeout: (target: LlmTarget) => `model did not answer within ${target.timeoutMs} ms`,
  aborted: () => 'request aborted',
  too_large: (target: LlmTarget) => `model answer is larger than ${target.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES} bytes`,
  network: (_target: LlmTarget, err: ServiceCallError) => `model unreachable: ${err.message}`,
} as const;

/** The answer text of an OpenAI chat completion (`choices[0].message.content`) or of DashScope's native API (`output.text`, `output.choices[0].message.content`). */
export function answerText(json: JsonObject): string | undefined {
  const fromChoices = (choices: unknown): unknown => {
    const first = Array.isArray(choices) ? choices[0] as JsonObject | undefined : undefined;
    return (first?.message as JsonObject | undefined)?.content;
  };
  const output = json.output as JsonObject | undefined;
  const text = fromChoices(json.choices) ?? output?.text ?? fromChoices(output?.choices);
  return typeof text === 'string' ? text : undefined;
}

/** POSTs `body` as JSON to the target; never throws (a failure is an `ok: false` reply naming why). */
export async function postChat(target: LlmTarget, body: JsonObject, signal?: AbortSignal,
  extraHeaders: Record<string, string> = {}): Promise<LlmReply> {
  const url = new URL(target.url);
  const headers: Record<string, string> = { ...extraHeaders, 'content-type': 'application/json', accept: 'application/json' };
  if (target.apiKey !== undefined && target.apiKey !== '') headers.authorization = `Bearer ${target.apiKey}`;
  if (target.hostHeader !== undefined) headers.host = target.hostHeader;
  const maxBytes = target.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES;
  let raw: string;
  let status: number;
  try {
    const reply = await sendBounded({ method: 'POST', url: target.url, headers, body: JSON.stringify(body) },
      { connections: poolFor(url.origin, url.protocol === 'https:' ? target.hostHeader : undefined), timeout: target.timeoutMs, maxReplyBytes: maxBytes }, signal);
    raw = reply.body.toString('utf8');
    status = reply.status;
  } catch (err) {
    const e = err as ServiceCallError;
    return { ok: false, kind: e.failure, message: FAILURE_MESSAGE[e.failure](target, e), ...(e.status !== undefined ? { status: e.status } : {}) };
  }
  if (status < 200 || status > 299) {
    return { ok: false, kind: 'status', status, message: `model answered ${status}: ${raw.slice(0, 200)}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, kind: 'not_json', status, message: `model answer is not JSON: ${raw.slice(0, 200)}` };
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    return { ok: false, kind: 'not_json', status, message: 'model answer is not a JSON object' };
  }
  const usage = (json as JsonObject).usage;
  return { ok: true, status, json: json as JsonObject, text: answerText(json as JsonObject),
    usage: typeof usage === 'object' && usage !== null ? usage as LlmUsage : undefined };
}

/** One chat completion: `model` and `messages` POSTed as OpenAI's API takes them; the answer text is `choices[0].message.content`. */
export function chatCompletion(target: LlmTarget, model: string | undefined, messages: readonly ChatMessage[],
  signal?: AbortSignal): Promise<LlmReply> {
  return postChat(target, model === undefined ? { messages } : { model, messages }, signal);
}
