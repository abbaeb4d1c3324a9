// External content moderation as ai-security-guard asks it: one text in, a verdict out.
// Two contracts: an OpenAI-moderation-shaped service (POST {model, input} → results[] with
// flagged/categories/category_scores) here, and Aliyun's content-security API in
// aliyun-moderation.ts. A service that fails (network, timeout, a non-2xx answer, a body
// of the wrong shape) throws: the caller decides between failing open and closed.
import { request } from 'undici';
import { sendBounded, ServiceCallError, type ServiceConnections } from '../outbound/service-call.js';

export interface ModerationVerdict {
  flagged: boolean;
  /** Why: the flagged categories or risk labels (empty when it passed). */
  labels: string[];
  /** A reply the service suggests for the user (Aliyun's Advice[0].Answer), if any. */
  advice?: string;
}

export type ModerationPhase = 'request' | 'response';

export interface ModerationService {
  check(text: string, phase: ModerationPhase, signal: AbortSignal): Promise<ModerationVerdict>;
}

/** Bytes of a moderation answer read at most: a verdict is small, a huge body is a broken service. */
export const MAX_MODERATION_ANSWER_BYTES = 1024 * 1024;

// the node's shared connections (undici's global dispatcher), as fetch used before
const connections: ServiceConnections = { request: (url, opts) => request(url, opts) };

/** POSTs `body` to a moderation service, bounded by `timeoutMs`, `signal` and MAX_MODERATION_ANSWER_BYTES; its JSON answer. */
export async function askModeration(endpoint: string, headers: Record<string, string>, body: string,
  timeoutMs: number, signal: AbortSignal): Promise<unknown> {
  let reply;
  try {
    reply = await sendBounded({ method: 'POST', url: endpoint, headers, body }, { connections, timeout: timeoutMs, maxReplyBytes: MAX_MODERATION_ANSWER_BYTES }, signal);
  } catch (err) {
    if ((err as ServiceCallError).failure === 'too_large') throw new Error('moderation answer is too large');
    throw err;
  }
  if (reply.status < 200 || reply.status > 299) throw new Error(`moderation service answered ${reply.status}`);
  try { return JSON.parse(reply.body.toString('utf8')); } catch { throw new Error('moderation answer is not JSON'); }
}

export interface OpenAiModerationOptions {
  endpoint: string;
  apiKey?: string;
  model?: string;
  /** category → score: flags a text whose category_scores[category] is at or above it, whatever `flagged` says. */
  thresholds: Record<string, number>;
  timeoutMs: number;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads an OpenAI moderation answer; throws when it is not one. */
export function openAiVerdict(answer: unknown, thresholds: Record<string, number>): ModerationVerdict {
  if (!isObject(answer) || !Array.isArray(answer.results)) throw new Error('moderation answer has no results array');
  const labels = new Set<string>();
  let flagged = false;
  for (const result of answer.results) {
    if (!isObject(result)) throw new Error('moderation answer has a result that is not an object');
    if (result.flagged === true) {
      flagged = true;
      if (isObject(result.categories)) for (const [k, v] of Object.entries(result.categories)) if (v === true) labels.add(k);
    }
    const scores = isObject(result.category_scores) ? result.category_scores : {};
    for (const [category, bar] of Object.entries(thresholds)) {
      const score = scores[category];
      if (typeof score === 'number' && score >= bar) {
        flagged = true;
        labels.add(category);
      }
    }
  }
  return { flagged, labels: [...labels] };
}

export class OpenAiModeration implements ModerationService {
  constructor(private readonly opts: OpenAiModerationOptions) {}

  async check(text: string, _phase: ModerationPhase, signal: AbortSignal): Promise<ModerationVerdict> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.opts.apiKey !== undefined) headers.authorization = `Bearer ${this.opts.apiKey}`;
    const body: Json = { input: text };
    if (this.opts.model !== undefined) body.model = this.opts.model;
    const answer = await askModeration(this.opts.endpoint, headers, JSON.stringify(body), this.opts.timeoutMs, signal);
    return openAiVerdict(answer, this.opts.thresholds);
  }
}
