// ai-transformer: Higress's. A model rewrites the request (before it goes upstream) and/or
// the response (before it goes to the client) by a configured instruction: it gets the
// message as `name:value` header lines, a blank line and the body, and its answer, read
// the same way, replaces the message's headers and body. An answer that is no such message
// (or a failed call) leaves the message as it was; the plugin never refuses.
//
// Gatehouse differences: Higress calls DashScope's native text-generation API at
// `provider.domain` on 443 with model qwen-max; here `provider.domain` may also be a whole
// URL, an OpenAI-compatible chat completions endpoint (DashScope's native path is still
// spoken natively), and `provider.model` names the model. Response statuses are kept, and
// streamed (text/event-stream) or large responses pass unchanged.
import type { PluginContext } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { counter } from '../observability/metrics.js';
import { postChat, type ChatMessage, type LlmTarget } from '../ai/outbound/llm-client.js';
import { providerDomainAddress } from '../ai/outbound/service-url.js';
import { formatHttpFrame, parseHttpFrame, type HttpFrame } from '../ai/protocol/http-frame.js';
import { setLoggedText } from './common/observe.js';

export interface AiTransformerConf {
  request: { enable: boolean; prompt: string };
  response: { enable: boolean; prompt: string };
  provider: { serviceName?: string; domain: string; apiKey: string; model: string };
}

interface AiTransformerPrepared {
  requestPrompt: string | undefined;
  responsePrompt: string | undefined;
  target: LlmTarget;
  dashscope: boolean;
  model: string;
  service: string;
}

type Side = 'request' | 'response';

const DASHSCOPE_PATH = '/api/v1/services/aigc/text-generation/generation';
const SYSTEM = 'Assume you are an HTTP/1.1 protocol expert: your answer must contain only an HTTP message and nothing else.';
const TIMEOUT_MS = 50_000;
/** Response bodies up to this size are rewritten; larger ones pass unchanged (a model could not take them anyway). */
export const MAX_TRANSFORMED_BODY = 1024 * 1024;
// Framing is the gateway's business: a model's Content-Length or Transfer-Encoding is not applied.
const FRAMING = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'te', 'upgrade', 'trailer']);
// Credentials are not shown to the model (Higress shows every header) and stay as they are.
const HIDDEN = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);
const shownHeaders = (all: Record<string, string> | undefined): Array<[string, string]> =>
  Object.entries(all ?? {}).filter(([name]) => !HIDDEN.has(name));
const kept = (name: string): boolean => FRAMING.has(name) || HIDDEN.has(name);

/** For access logs: `transformed`, or why the request was left as it was. */
registerVariable('ai_transformer_request');
/** For access logs: `transformed`, or why the response was left as it was. */
registerVariable('ai_transformer_response');

let transformed: ReturnType<typeof counter<'route' | 'side'>> | undefined;
let unchanged: ReturnType<typeof counter<'route' | 'side' | 'reason'>> | undefined;

const side = {
  type: 'object', additionalProperties: false, required: ['enable', 'prompt'],
  properties: { enable: { type: 'boolean' }, prompt: { type: 'string' } },
} as const;

interface Held { chunks: Buffer[]; size: number; passing: boolean }
const HELD = 'ai-transformer.held';

export default definePlugin<AiTransformerConf, AiTransformerPrepared>({
  name: 'ai-transformer',
  description: 'Lets a model rewrite the request or the response (headers and body) by a configured instruction.',
  version: '0.1',
  stage: 'default',
  priority: 410,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['provider'],
    properties: {
      request: side,
      response: side,
      provider: {
        type: 'object', additionalProperties: false, required: ['domain', 'apiKey'],
        properties: {
          serviceName: { type: 'string' },
          domain: { type: 'string', minLength: 1 },
          apiKey: { type: 'string' },
          model: { type: 'string', minLength: 1, default: 'qwen-max' },
        },
      },
    },
  },

  prepare(conf) {
    const address = providerDomainAddress(conf.provider.domain, DASHSCOPE_PATH);
    const on = (s: { enable: boolean; prompt: string } | undefined): string | undefined =>
      s !== undefined && s.enable && s.prompt !== '' ? s.prompt : undefined;
    return {
      requestPrompt: on(conf.request),
      responsePrompt: on(conf.response),
      target: { url: address.url, apiKey: conf.provider.apiKey, timeoutMs: TIMEOUT_MS },
      dashscope: new URL(address.url).pathname === DASHSCOPE_PATH,
      model: conf.provider.model,
      service: conf.provider.serviceName ?? address.url,
    };
  },

  async access(p, ctx) {
    if (p.requestPrompt === undefined) return undefined;
    const req = ctx.request;
    const body = await req.body();
    const headers: Array<[string, string]> = [[':authority', req.host], [':method', req.upstreamMethod ?? req.method],
      [':path', req.upstreamUri], ...shownHeaders(req.allHeaders?.())];
    const frame = await rewrite(p, ctx, 'request', p.requestPrompt, formatHttpFrame(headers, body.toString('utf8')));
    if (frame === undefined) return undefined;
    const given = new Set(frame.headers.map(([name]) => name));
    for (const name of Object.keys(req.allHeaders?.() ?? {})) if (!given.has(name) && !kept(name) && name !== 'host') req.setHeader(name, undefined);
    for (const [name, value] of frame.headers) {
      if (name === ':path') req.upstreamUri = value.startsWith('/') ? value : `/${value}`;
      else if (name === ':method') req.upstreamMethod = value.toUpperCase();
      else if (name === ':authority' || name === 'host') req.upstreamHost = value;
      else if (!name.startsWith(':') && !kept(name)) req.setHeader(name, value);
    }
    req.setBody(frame.body);
    return undefined;
  },

  filtersBody: (p) => p.responsePrompt !== undefined,

  header_filter(p, ctx) {
    if (p.responsePrompt === undefined) return;
    const type = ctx.response.header('content-type') ?? '';
    if (type.toLowerCase().startsWith('text/event-stream')) setUnchanged(ctx, 'response', 'streamed', 'a streamed response is not rewritten');
    else ctx.shared.set(HELD, { chunks: [], size: 0, passing: false } satisfies Held);
  },

  // The whole body is held (nothing written, so the head is still unsent) and rewritten at
  // its end, when the model's headers can still replace the response's.
  async body_filter(p, ctx, chunk, eof) {
    const held = ctx.shared.get(HELD) as Held | undefined;
    if (held === undefined || held.passing || p.responsePrompt === undefined) return undefined;
    held.chunks.push(chunk);
    held.size += chunk.length;
    if (held.size > MAX_TRANSFORMED_BODY) {
      held.passing = true;
      setUnchanged(ctx, 'response', 'too_large', `a response body over ${MAX_TRANSFORMED_BODY} bytes is not rewritten`);
      return Buffer.concat(held.chunks);
    }
    if (!eof) return Buffer.alloc(0);
    const original = Buffer.concat(held.chunks);
    const headers: Array<[string, string]> = [[':status', String(ctx.response.status)], ...shownHeaders(ctx.response.allHeaders?.())];
    const frame = await rewrite(p, ctx, 'response', p.responsePrompt, formatHttpFrame(headers, original.toString('utf8')));
    if (frame === undefined) return original;
    const given = new Set(frame.headers.map(([name]) => name));
    for (const name of Object.keys(ctx.response.allHeaders?.() ?? {})) if (!given.has(name) && !kept(name)) ctx.response.setHeader(name, undefined);
    for (const [name, value] of frame.headers) if (!name.startsWith(':') && !kept(name)) ctx.response.setHeader(name, value);
    return Buffer.from(frame.body);
  },
});

async function rewrite(p: AiTransformerPrepared, ctx: PluginContext, which: Side, prompt: string, message: string): Promise<HttpFrame | undefined> {
  const messages: ChatMessage[] = [{ role: 'system', content: SYSTEM }, { role: 'system', content: prompt }, { role: 'user', content: message }];
  const body = p.dashscope ? { model: p.model, input: { messages } } : { model: p.model, messages };
  const reply = await postChat(p.target, body, ctx.signal);
  if (!reply.ok) {
    ctx.log.warn({ service: p.service, kind: reply.kind }, `ai-transformer: ${reply.message}`);
    return setUnchanged(ctx, which, reply.kind, reply.message);
  }
  const frame = reply.text === undefined ? undefined : parseHttpFrame(reply.text);
  if (frame === undefined) return setUnchanged(ctx, which, 'unparsable', 'the model\'s answer is not an HTTP message');
  ctx.setVar(`ai_transformer_${which}`, 'transformed');
  transformed ??= counter('gatehouse_ai_transformer_transformed_total', 'Messages ai-transformer rewrote, by route and side (request, response).', ['route', 'side']);
  transformed.inc({ route: ctx.routeId ?? '', side: which });
  return frame;
}

function setUnchanged(ctx: PluginContext, which: Side, reason: string, message: string): undefined {
  setLoggedText(ctx, `ai_transformer_${which}`, `unchanged: ${message}`);
  unchanged ??= counter('gatehouse_ai_transformer_unchanged_total',
    'Messages ai-transformer left as they were, by route, side and reason (unparsable, streamed, too_large, timeout, status, network, not_json, aborted).',
    ['route', 'side', 'reason']);
  unchanged.inc({ route: ctx.routeId ?? '', side: which, reason });
  return undefined;
}
