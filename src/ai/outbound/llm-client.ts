// The chat call the AI plugins make themselves (ai-intent classifies a prompt, ai-json
// re-asks for valid JSON, ai-transformer rewrites a body): one POST of an OpenAI-compatible
// chat completion (or DashScope's native text-generation API, which ai-transformer's
// Higress original calls) to a configured URL, bounded in time and in the size of the answer
// read. Connections are pooled per target origin, so a busy route reuses them.
import { Pool, request, type Dispatcher } from 'undici';
import type { JsonObject } from '../protocol/json-body.js';

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
const pools = new Map<string, Pool>();
function poolFor(origin: string, servername: string | undefined): Dispatcher {
  const key = `${origin}|${servername ?? ''}`;
  let pool = pools.get(key);
  if (pool === undefined) {
    pool = new Pool(origin, { connections: 64, keepAliveTimeout: 60_000, connect: servername === undefined ? {} : { servername } });
    pools.set(key, pool);
  }
  return pool;
}

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
  const timeout = AbortSignal.timeout(target.timeoutMs);
  const both = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
  const maxBytes = target.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES;
  try {
    const res = await request(url, {
      method: 'POST', headers, body: JSON.stringify(body), signal: both,
      dispatcher: poolFor(url.origin, url.protocol === 'https:' ? target.hostHeader : undefined),
    });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) {
        res.body.destroy();
        return { ok: false, kind: 'too_large', message: `model answer is larger than ${maxBytes} bytes`, status: res.statusCode };
      }
      chunks.push(chunk);
    }
    const raw = Buffer.concat(chunks).toString('utf8');
    if (res.statusCode < 200 || res.statusCode > 299) {
      return { ok: false, kind: 'status', status: res.statusCode, message: `model answered ${res.statusCode}: ${raw.slice(0, 200)}` };
    }
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      return { ok: false, kind: 'not_json', status: res.statusCode, message: `model answer is not JSON: ${raw.slice(0, 200)}` };
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) {
      return { ok: false, kind: 'not_json', status: res.statusCode, message: 'model answer is not a JSON object' };
    }
    const usage = (json as JsonObject).usage;
    return { ok: true, status: res.statusCode, json: json as JsonObject, text: answerText(json as JsonObject),
      usage: typeof usage === 'object' && usage !== null ? usage as LlmUsage : undefined };
  } catch (err) {
    if (timeout.aborted) return { ok: false, kind: 'timeout', message: `model did not answer within ${target.timeoutMs} ms` };
    if (signal?.aborted === true) return { ok: false, kind: 'aborted', message: 'request aborted' };
    return { ok: false, kind: 'network', message: `model unreachable: ${(err as Error).message}` };
  }
}

/** One chat completion: `model` and `messages` POSTed as OpenAI's API takes them; the answer text is `choices[0].message.content`. */
export function chatCompletion(target: LlmTarget, model: string | undefined, messages: readonly ChatMessage[],
  signal?: AbortSignal): Promise<LlmReply> {
  return postChat(target, model === undefined ? { messages } : { model, messages }, signal);
}
