// External content moderation as ai-security-guard asks it: one text in, a verdict out.
// Two contracts: an OpenAI-moderation-shaped service (POST {model, input} → results[] with
// flagged/categories/category_scores) here, and Aliyun's content-security API in
// aliyun-moderation.ts. A service that fails (network, timeout, a non-2xx answer, a body
// of the wrong shape) throws: the caller decides between failing open and closed.

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

/** The body of `res` as text, refusing one over MAX_MODERATION_ANSWER_BYTES. */
export async function readBounded(res: Response): Promise<string> {
  const length = Number(res.headers.get('content-length') ?? '0');
  if (length > MAX_MODERATION_ANSWER_BYTES) throw new Error(`moderation answer of ${length} bytes is too large`);
  if (res.body === null) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    size += chunk.length;
    if (size > MAX_MODERATION_ANSWER_BYTES) throw new Error('moderation answer is too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
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
    const res = await fetch(this.opts.endpoint, {
      method: 'POST', headers, body: JSON.stringify(body), redirect: 'error',
      signal: AbortSignal.any([signal, AbortSignal.timeout(this.opts.timeoutMs)]),
    });
    const raw = await readBounded(res);
    if (!res.ok) throw new Error(`moderation service answered ${res.status}`);
    let answer: unknown;
    try { answer = JSON.parse(raw); } catch { throw new Error('moderation answer is not JSON'); }
    return openAiVerdict(answer, this.opts.thresholds);
  }
}
