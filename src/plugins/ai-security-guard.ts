// ai-security-guard: Higress's plugin of the same name. Prompts (before they are proxied)
// and answers (JSON whole, streamed ones window by window, see src/ai/safety/guard-stream.ts) are
// checked by an external moderation service: an OpenAI-moderation-shaped one
// (`moderation`) or Aliyun's content-security API (Higress's fields). A flagged text is
// answered with the deny message, shaped as the client expects. A service that fails or
// times out lets the text pass (`fail_mode: open`, Higress's behaviour) or blocks it.
import type { PluginContext } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { counter } from '../observability/metrics.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { pluginNodeLimits } from '../plugin-runtime/node-limits.js';
import { isJsonContentType, readJsonBody, type JsonObject } from '../ai/protocol/json-body.js';
import type { JsonPathLite } from '../ai/json-path/json-path-lite.js';
import { lastUserMessage } from '../ai/protocol/last-user-message.js';
import { parseContentPath, textAt, windows } from '../ai/json-path/content-path.js';
import { SseGuard } from '../ai/safety/guard-stream.js';
import { AnswerBuffer, answerReading } from '../ai/context/answer-buffer.js';
import { OpenAiModeration, type ModerationPhase, type ModerationService, type ModerationVerdict } from '../ai/safety/moderation.js';
import { AliyunModeration } from '../ai/safety/aliyun-moderation.js';
import { GUARD_SCHEMA, resolveGuardConfig, type AiSecurityGuardConf, type GuardSettings } from '../ai/safety/guard-config.js';

export type { AiSecurityGuardConf } from '../ai/safety/guard-config.js';

interface Prepared {
  settings: GuardSettings;
  service: ModerationService;
  requestPath?: JsonPathLite;
  responsePath: JsonPathLite;
  streamPath: JsonPathLite;
  key: string;
}

interface RequestState {
  stream: boolean;
  checks: number;
  checkMs: number;
  guard?: SseGuard;
  streamUnchecked?: boolean;
  answer?: AnswerBuffer;
  skip?: boolean;
}

type Outcome = { verdict: ModerationVerdict } | { error: Error };

registerVariable('ai_security_guard_action');
registerVariable('ai_security_guard_deny_phase');
registerVariable('ai_security_guard_risk_label');
registerVariable('ai_security_guard_checks');
registerVariable('ai_security_guard_check_ms');

let deniedTotal: ReturnType<typeof counter<'route' | 'phase'>> | undefined;
let errorsTotal: ReturnType<typeof counter<'route' | 'phase'>> | undefined;
let skippedTotal: ReturnType<typeof counter<'route' | 'reason'>> | undefined;

function countSkipped(ctx: PluginContext, reason: 'too_large' | 'encoded' | 'stream_too_large'): void {
  skippedTotal ??= counter('gatehouse_ai_security_guard_skipped_total', 'Answers ai-security-guard could not check: too large or compressed ones pass, a stream with a too large event is cut', ['route', 'reason']);
  skippedTotal.inc({ route: ctx.routeId ?? '', reason });
}

const DENY_MODEL = 'from-security-guard';
const chatId = (): string => `chatcmpl-${Math.random().toString(36).slice(2, 14)}`;

function openAiAnswer(content: string): JsonObject {
  return {
    id: chatId(), object: 'chat.completion', model: DENY_MODEL,
    choices: [{ index: 0, message: { role: 'assistant', content }, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
  };
}

function openAiStreamDeny(content: string): string {
  const id = chatId();
  const chunk = (delta: JsonObject, finish: string | null) =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', model: DENY_MODEL, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`;
  return chunk({ role: 'assistant', content }, null) + chunk({}, 'stop') + 'data: [DONE]\n\n';
}

function denyMessage(p: Prepared, verdict: ModerationVerdict | undefined): string {
  return p.settings.denyMessage ?? verdict?.advice ?? p.settings.defaultDenyMessage;
}

/**
 * Checks `text` window by window (stops at the first flagged one), the first window after
 * `context` (the end of text checked before); an error is returned, not thrown.
 */
async function moderate(p: Prepared, ctx: PluginContext, state: RequestState, text: string, phase: ModerationPhase,
  context = '', size = p.settings.bufferLimit): Promise<Outcome> {
  let last: ModerationVerdict = { flagged: false, labels: [] };
  for (const [i, window] of windows(text, size).entries()) {
    const piece = i === 0 ? context + window : window;
    const started = performance.now();
    state.checks++;
    try {
      last = await p.service.check(piece, phase, ctx.signal);
    } catch (err) {
      errorsTotal ??= counter('gatehouse_ai_security_guard_errors_total', 'Moderation calls of ai-security-guard that failed or timed out', ['route', 'phase']);
      errorsTotal.inc({ route: ctx.routeId ?? '', phase });
      ctx.log.warn({ plugin: 'ai-security-guard', phase, err: (err as Error).message }, 'moderation service failed');
      return { error: err as Error };
    } finally {
      state.checkMs += performance.now() - started;
      ctx.setVar('ai_security_guard_checks', state.checks);
      ctx.setVar('ai_security_guard_check_ms', Math.round(state.checkMs));
    }
    if (last.flagged) break;
  }
  return { verdict: last };
}

/** Whether the outcome blocks, with the side effects (variables, metrics) of the decision. */
function blocks(p: Prepared, ctx: PluginContext, outcome: Outcome, phase: ModerationPhase): ModerationVerdict | undefined | false {
  if ('error' in outcome) {
    if (p.settings.failMode === 'open') {
      ctx.setVar('ai_security_guard_action', 'error');
      return false;
    }
    return denied(ctx, phase, { flagged: true, labels: ['moderation_unavailable'] });
  }
  if (!outcome.verdict.flagged) {
    // a check that failed earlier in the request stays visible
    if (ctx.var('ai_security_guard_action') !== 'error') ctx.setVar('ai_security_guard_action', 'pass');
    return false;
  }
  return denied(ctx, phase, outcome.verdict);
}

function denied(ctx: PluginContext, phase: ModerationPhase, verdict: ModerationVerdict): ModerationVerdict {
  ctx.setVar('ai_security_guard_action', 'denied');
  ctx.setVar('ai_security_guard_deny_phase', phase);
  ctx.setVar('ai_security_guard_risk_label', verdict.labels.join(','));
  deniedTotal ??= counter('gatehouse_ai_security_guard_denied_total', 'Prompts and answers ai-security-guard denied', ['route', 'phase']);
  deniedTotal.inc({ route: ctx.routeId ?? '', phase });
  return verdict;
}

/** The prompt text to check: the configured path, else an OpenAI chat's last user message. */
function promptText(p: Prepared, json: JsonObject): string {
  if (p.requestPath !== undefined) return textAt(json, p.requestPath);
  return lastUserMessage(json.messages);
}

/** The JSON answer with its text checked: the original bytes, or the deny body. */
async function finishBody(p: Prepared, ctx: PluginContext, state: RequestState, raw: Buffer): Promise<Buffer | string> {
  let doc: unknown;
  try { doc = JSON.parse(raw.toString('utf8')); } catch { return raw; }
  const text = textAt(doc, p.responsePath);
  if (text === '') return raw;
  const verdict = blocks(p, ctx, await moderate(p, ctx, state, text, 'response'), 'response');
  if (verdict === false) return raw;
  const message = denyMessage(p, verdict);
  return p.settings.protocolOriginal ? JSON.stringify(message) : JSON.stringify(openAiAnswer(message));
}

let instances = 0;

export default definePlugin<AiSecurityGuardConf, Prepared>({
  name: 'ai-security-guard',
  description: 'Checks prompts and answers (streamed ones window by window) with an external moderation service, an OpenAI-moderation-shaped one or Aliyun content security, and blocks flagged ones with the configured message (Higress ai-security-guard).',
  version: '0.1',
  stage: 'default',
  priority: 850,
  schema: GUARD_SCHEMA,

  prepare(conf) {
    const settings = resolveGuardConfig(conf);
    const service: ModerationService = settings.openai !== undefined
      ? new OpenAiModeration(settings.openai)
      : new AliyunModeration(settings.aliyun!);
    return {
      settings,
      service,
      ...(settings.requestPath !== undefined ? { requestPath: parseContentPath(settings.requestPath, settings.requestPathField) } : {}),
      responsePath: parseContentPath(settings.responsePath, 'responseContentJsonPath'),
      streamPath: parseContentPath(settings.streamPath, 'responseStreamContentJsonPath'),
      key: `ai-security-guard#${++instances}`,
    };
  },

  async access(p, ctx) {
    const state: RequestState = { stream: false, checks: 0, checkMs: 0 };
    ctx.shared.set(p.key, state);
    if (!p.settings.checkRequest || !isJsonContentType(ctx.request.header('content-type'))) return undefined;
    const read = await readJsonBody(ctx);
    if (!read.ok) return undefined;
    state.stream = read.json.stream === true;
    const text = promptText(p, read.json);
    if (text === '') return undefined;
    const verdict = blocks(p, ctx, await moderate(p, ctx, state, text, 'request'), 'request');
    if (verdict === false) return undefined;
    state.skip = true;
    const message = denyMessage(p, verdict);
    const status = p.settings.denyCode;
    if (p.settings.protocolOriginal) return { status, body: JSON.stringify(message), headers: { 'content-type': 'application/json' } };
    if (state.stream) return { status, body: openAiStreamDeny(message), headers: { 'content-type': 'text/event-stream;charset=UTF-8' } };
    return { status, body: JSON.stringify(openAiAnswer(message)), headers: { 'content-type': 'application/json' } };
  },

  header_filter(p, ctx) {
    const state = ctx.shared.get(p.key) as RequestState | undefined;
    if (!p.settings.checkResponse || state === undefined || state.skip === true || ctx.response.status !== 200) return;
    const limit = pluginNodeLimits().maxBufferedBodySize;
    const reading = answerReading(ctx.response, limit);
    if (reading === 'encoded' || reading === 'too_large') return countSkipped(ctx, reading);
    if (reading === 'stream') {
      state.guard = new SseGuard({
        path: p.streamPath,
        window: p.settings.bufferLimit,
        maxHeldBytes: Math.min(limit, 1024 * 1024),
        // a stream's window is bufferLimit characters and the rest of the event that completed
        // it: up to twice bufferLimit goes in one call, not a second one for a few characters
        check: async (text, context) => {
          const outcome = await moderate(p, ctx, state, text, 'response', context, 2 * p.settings.bufferLimit);
          const verdict = blocks(p, ctx, outcome, 'response');
          return verdict === false ? undefined : openAiStreamDeny(denyMessage(p, verdict));
        },
      });
    } else {
      state.answer = new AnswerBuffer(limit);
    }
    ctx.response.setHeader('content-length', undefined);
    ctx.response.setHeader('etag', undefined);
  },

  filtersBody: (p) => p.settings.checkResponse,

  body_filter(p, ctx, chunk, eof) {
    if (chunk.length === 0 && !eof) return undefined; // nothing to read: no promise to wait for
    const state = ctx.shared.get(p.key) as RequestState | undefined;
    if (state?.guard !== undefined) return streamChunk(p, ctx, state, state.guard, chunk, eof);
    if (state?.answer === undefined) return undefined;
    return state.answer.push(chunk, eof, (raw) => finishBody(p, ctx, state, raw), () => countSkipped(ctx, 'too_large'));
  },
});

async function streamChunk(p: Prepared, ctx: PluginContext, state: RequestState, guard: SseGuard, chunk: Buffer, eof: boolean): Promise<string | undefined> {
  if (state.streamUnchecked === true) return '';
  try {
    const out = await guard.push(chunk);
    return eof ? out + await guard.end() : out;
  } catch {
    // an event over the parser's bound cannot be checked (and what it held is gone): the
    // stream ends here with the deny message rather than pass unchecked
    state.streamUnchecked = true;
    countSkipped(ctx, 'stream_too_large');
    return openAiStreamDeny(denyMessage(p, undefined));
  }
}
