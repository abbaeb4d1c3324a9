// ai-data-masking: Higress's plugin of the same name. Before a prompt leaves, its texts
// (an OpenAI chat request's messages, else the `deny_jsonpath` fields, else with
// `deny_raw` the whole body) are checked for deny words (a reply from the gateway, shaped
// as the client expects: OpenAI JSON, an SSE chunk for `stream: true`, or
// `deny_raw_message`) and masked by `replace_roles`. The answer (JSON, or streamed
// events with a bounded hold-back, see src/ai/safety/stream-mask.ts) gets the `restore` masks
// back and is replaced by the deny message when it contains a deny word.
import type { PluginContext } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { counter } from '../observability/metrics.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { pluginNodeLimits } from '../plugin-runtime/node-limits.js';
import { isChatRequest, visitAnswerTexts, visitMessageTexts } from '../ai/protocol/chat-text.js';
import { SYSTEM_DENY_WORDS } from '../ai/safety/deny-dictionary.js';
import { isJsonContentType, readJsonBody, writeJsonBody, type JsonObject } from '../ai/protocol/json-body.js';
import { parseJsonPathLite, visitEveryString, visitStrings, type JsonPathLite } from '../ai/json-path/json-path-lite.js';
import { compileReplaceRoles, DenyWords, MaskSession, type MaskRule, type ReplaceRoleConf } from '../ai/safety/masking.js';
import { SseAnswerMasker } from '../ai/safety/stream-mask.js';
import { AnswerBuffer, answerReading } from '../ai/context/answer-buffer.js';

export interface AiDataMaskingConf {
  deny_openai: boolean;
  deny_jsonpath: string[];
  deny_raw: boolean;
  system_deny: boolean;
  deny_words: string[];
  deny_code: number;
  deny_message: string;
  deny_raw_message: string;
  deny_content_type: string;
  replace_roles: ReplaceRoleConf[];
  skip_response: boolean;
}

interface Prepared {
  conf: AiDataMaskingConf;
  paths: JsonPathLite[];
  rules: MaskRule[];
  deny: DenyWords;
  /** The answer may need work: a rule restores, or there are deny words. */
  response: boolean;
  key: string;
}

interface RequestState {
  session: MaskSession;
  openai: boolean;
  stream: boolean;
  /** Response side: the stream masker (and whether the stream broke its bounds), or the buffered JSON/raw body. */
  masker?: SseAnswerMasker;
  streamUnchecked?: boolean;
  answer?: AnswerBuffer;
}

const DEFAULT_MESSAGE = 'Sensitive words found in the question or answer have been blocked';

registerVariable('ai_data_masking_action');
registerVariable('ai_data_masking_masked');
registerVariable('ai_data_masking_deny_phase');

let deniedTotal: ReturnType<typeof counter<'route' | 'phase'>> | undefined;
let maskedTotal: ReturnType<typeof counter<'route'>> | undefined;
let skippedTotal: ReturnType<typeof counter<'route' | 'reason'>> | undefined;

function countDenied(ctx: PluginContext, phase: 'request' | 'response'): void {
  ctx.setVar('ai_data_masking_action', 'denied');
  ctx.setVar('ai_data_masking_deny_phase', phase);
  deniedTotal ??= counter('gatehouse_ai_data_masking_denied_total', 'Prompts and answers ai-data-masking denied for a deny word', ['route', 'phase']);
  deniedTotal.inc({ route: ctx.routeId ?? '', phase });
}

function countSkipped(ctx: PluginContext, reason: 'too_large' | 'encoded' | 'stream_too_large'): void {
  skippedTotal ??= counter('gatehouse_ai_data_masking_skipped_total', 'Answers ai-data-masking let through unchecked (too large, compressed)', ['route', 'reason']);
  skippedTotal.inc({ route: ctx.routeId ?? '', reason });
}

function openAiAnswer(content: string): JsonObject {
  return { object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'deny' }], usage: {} };
}

function openAiStreamDeny(content: string): string {
  const chunk = { object: 'chat.completion.chunk', choices: [{ index: 0, delta: { role: 'assistant', content }, finish_reason: 'deny' }], usage: {} };
  return `data: ${JSON.stringify(chunk)}\n\ndata: [DONE]\n\n`;
}

function denyReply(p: Prepared, state: RequestState): { status: number; body: string; headers: Record<string, string> } {
  const { conf } = p;
  if (!state.openai) return { status: conf.deny_code, body: conf.deny_raw_message, headers: { 'content-type': conf.deny_content_type } };
  if (state.stream) return { status: conf.deny_code, body: openAiStreamDeny(conf.deny_message), headers: { 'content-type': 'text/event-stream;charset=UTF-8' } };
  return { status: conf.deny_code, body: JSON.stringify(openAiAnswer(conf.deny_message)), headers: { 'content-type': 'application/json' } };
}

/** Checks and masks one text: false when it holds a deny word. */
function maskText(p: Prepared, state: RequestState): (text: string) => string | false {
  return (text) => (p.deny.find(text) !== undefined ? false : state.session.mask(text));
}

/** The request side: 'denied', or whether anything was masked (the body is rewritten then). */
async function checkRequest(p: Prepared, ctx: PluginContext, state: RequestState): Promise<'denied' | 'masked' | 'none'> {
  const { conf } = p;
  const check = maskText(p, state);
  if ((conf.deny_openai || p.paths.length > 0) && isJsonContentType(ctx.request.header('content-type'))) {
    const read = await readJsonBody(ctx);
    const json = read.ok ? read.json : undefined;
    let passed: boolean | undefined;
    if (json !== undefined && conf.deny_openai && isChatRequest(json)) {
      state.openai = true;
      state.stream = json.stream === true;
      passed = json.messages.every((m) => visitMessageTexts(m, check));
    } else if (json !== undefined && p.paths.length > 0) {
      passed = p.paths.every((path) => visitStrings(json, path, check));
    }
    if (passed !== undefined) {
      if (!passed) return 'denied';
      if (state.session.masked === 0) return 'none';
      writeJsonBody(ctx, json!);
      return 'masked';
    }
  }
  if (!conf.deny_raw) return 'none';
  const raw = (await ctx.request.body()).toString('utf8');
  const masked = raw === '' ? raw : check(raw);
  if (masked === false) return 'denied';
  if (state.session.masked === 0) return 'none';
  ctx.request.setBody(masked);
  return 'masked';
}

/** The buffered answer checked and restored, or replaced by the deny message. */
function finishBody(p: Prepared, ctx: PluginContext, state: RequestState, raw: Buffer): Buffer | string {
  const text = raw.toString('utf8');
  const denied = (): string => {
    countDenied(ctx, 'response');
    return state.openai ? JSON.stringify(openAiAnswer(p.conf.deny_message)) : p.conf.deny_raw_message;
  };
  let doc: unknown;
  try { doc = JSON.parse(text); } catch { doc = undefined; }
  const restore = (t: string): string | false => state.session.restore(t);
  if (typeof doc === 'object' && doc !== null) {
    const chat = state.openai && Array.isArray((doc as JsonObject).choices);
    // Higress checks a chat answer's messages, and with deny_raw any other answer whole
    const check = chat || p.conf.deny_raw ? (t: string) => (p.deny.find(t) !== undefined ? false : restore(t)) : restore;
    if (!(chat ? visitAnswerTexts(doc, check) : visitEveryString(doc, check))) return denied();
    return JSON.stringify(doc);
  }
  if (p.conf.deny_raw && p.deny.find(text) !== undefined) return denied();
  return state.session.restore(text);
}

let instances = 0;

export default definePlugin<AiDataMaskingConf, Prepared>({
  name: 'ai-data-masking',
  description: 'Denies prompts and answers containing sensitive words, masks sensitive data in prompts (regexes with grok macros, hashes) and restores it in answers, streamed ones included (Higress ai-data-masking).',
  version: '0.1',
  stage: 'default',
  priority: 991,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      deny_openai: { type: 'boolean', default: true },
      deny_jsonpath: { type: 'array', maxItems: 64, items: { type: 'string', minLength: 1, maxLength: 512 }, default: [] },
      deny_raw: { type: 'boolean', default: false },
      system_deny: { type: 'boolean', default: false },
      deny_words: { type: 'array', maxItems: 10000, items: { type: 'string', minLength: 1, maxLength: 256 }, default: [] },
      deny_code: { type: 'integer', minimum: 200, maximum: 599, default: 200 },
      deny_message: { type: 'string', maxLength: 4096, default: DEFAULT_MESSAGE },
      deny_raw_message: { type: 'string', maxLength: 4096, default: JSON.stringify({ errmsg: DEFAULT_MESSAGE }) },
      deny_content_type: { type: 'string', minLength: 1, maxLength: 256, default: 'application/json' },
      replace_roles: {
        type: 'array',
        maxItems: 256,
        default: [],
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['regex', 'type'],
          properties: {
            regex: { type: 'string', minLength: 1, maxLength: 4096 },
            type: { type: 'string', enum: ['replace', 'hash'] },
            restore: { type: 'boolean', default: false },
            value: { type: 'string', maxLength: 256 },
          },
        },
      },
      skip_response: { type: 'boolean', default: false },
    },
  },

  prepare(conf) {
    const paths = conf.deny_jsonpath.map((t, i) => parseJsonPathLite(t, `deny_jsonpath[${i}]`));
    const rules = compileReplaceRoles(conf.replace_roles, 'replace_roles');
    const deny = new DenyWords(conf.system_deny ? [...conf.deny_words, ...SYSTEM_DENY_WORDS] : conf.deny_words);
    const response = !conf.skip_response && (rules.some((r) => r.restore) || deny.maxLength > 0);
    return { conf, paths, rules, deny, response, key: `ai-data-masking#${++instances}` };
  },

  async access(p, ctx) {
    const state: RequestState = { session: new MaskSession(p.rules), openai: false, stream: false };
    ctx.shared.set(p.key, state);
    const outcome = await checkRequest(p, ctx, state);
    ctx.setVar('ai_data_masking_masked', state.session.masked);
    if (outcome === 'denied') {
      countDenied(ctx, 'request');
      return denyReply(p, state);
    }
    ctx.setVar('ai_data_masking_action', outcome);
    if (outcome === 'masked') {
      maskedTotal ??= counter('gatehouse_ai_data_masking_masked_total', 'Matches of replace_roles ai-data-masking masked in prompts', ['route']);
      maskedTotal.inc({ route: ctx.routeId ?? '' }, state.session.masked);
    }
    return undefined;
  },

  header_filter(p, ctx) {
    const state = ctx.shared.get(p.key) as RequestState | undefined;
    if (!p.response || state === undefined) return;
    const denies = p.deny.maxLength > 0 && (state.openai || p.conf.deny_raw);
    if (!denies && !state.session.restoring) return;
    const limit = pluginNodeLimits().maxBufferedBodySize;
    const reading = answerReading(ctx.response, limit);
    if (reading === 'encoded' || reading === 'too_large') return countSkipped(ctx, reading);
    if (reading === 'stream') {
      if (!state.openai) return; // a stream that is not chat chunks is never buffered whole
      state.masker = new SseAnswerMasker(state.session, p.deny, openAiStreamDeny(p.conf.deny_message));
    } else {
      state.answer = new AnswerBuffer(limit);
    }
    ctx.response.setHeader('content-length', undefined);
    ctx.response.setHeader('etag', undefined);
  },

  filtersBody: (p) => p.response,

  body_filter(p, ctx, chunk, eof) {
    const state = ctx.shared.get(p.key) as RequestState | undefined;
    if (state?.masker !== undefined) return streamChunk(ctx, state, state.masker, chunk, eof);
    if (state?.answer === undefined) return undefined;
    return state.answer.push(chunk, eof, (raw) => finishBody(p, ctx, state, raw), () => countSkipped(ctx, 'too_large'));
  },
});

function streamChunk(ctx: PluginContext, state: RequestState, masker: SseAnswerMasker, chunk: Buffer, eof: boolean): string | Buffer | undefined {
  if (state.streamUnchecked === true) return undefined; // the stream broke the event bound: it passes as it comes
  const wasDenied = masker.denied !== undefined;
  let out: string;
  try {
    out = masker.push(chunk) + (eof ? masker.end() : '');
  } catch {
    state.streamUnchecked = true;
    countSkipped(ctx, 'stream_too_large');
    return chunk;
  }
  if (!wasDenied && masker.denied !== undefined) countDenied(ctx, 'response');
  return out;
}
