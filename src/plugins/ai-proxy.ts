// ai-proxy: APISIX's ai-proxy. The route's requests go to a model provider (OpenAI, DeepSeek,
// Azure OpenAI, Qwen, Ollama, Anthropic, any OpenAI-compatible server) with the configured auth,
// model and options; the provider's adapter converts what its wire format needs. It does not call the provider itself: it rewrites the request (body, headers, method,
// path) and hands the data plane an inline upstream built once per configuration, so answers,
// streamed ones included, come back through the normal proxy path with backpressure and every
// response-side plugin sees them. On the way it reads the answer (never changing it) for the
// tokens used, shared with later AI plugins through src/ai/context.ts and logged as APISIX's
// llm_* variables.
import type { PhaseResult, PluginContext, UpstreamChoice } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { checkedInlineUpstream } from '../plugin-runtime/upstream-check.js';
import { AiResponseObserver, aiContext, startAiContext, type AiContext } from '../ai/context.js';
import { isJsonContentType, readJsonBody, writeJsonBody, type JsonObject } from '../ai/json-body.js';
import { protocolsOf, UnconvertibleRequest, type AiProtocol, type ProviderAdapter, type ResponseConverter } from '../ai/provider.js';
import { PROVIDER_NAMES, UNBUILT_PROVIDERS, providerAdapter } from '../ai/providers/index.js';
import { providerTarget, type ProviderTarget } from '../ai/target.js';
import { aiRequestCounter, logAiExchange } from '../ai/observe.js';

export interface AiProxyConf {
  provider: string;
  auth: { header?: Record<string, string>; query?: Record<string, string> };
  options?: JsonObject;
  override?: { endpoint?: string; llm_options?: { max_tokens?: number } };
  logging: { summaries: boolean; payloads: boolean };
  timeout: number;
  max_req_body_size?: number;
  keepalive: boolean;
  keepalive_timeout: number;
  keepalive_pool: number;
  ssl_verify: boolean;
}

interface AiProxyPrepared {
  adapter: ProviderAdapter;
  protocols: AiProtocol[];
  target: ProviderTarget;
  upstream: UpstreamChoice;
  headers: [string, string][];
  /** The adapter's headers `auth.header` does not give: sent when the client does not either. */
  defaultHeaders: [string, string][];
  options: JsonObject | undefined;
  maxTokens: number | undefined;
  maxBodySize: number | undefined;
  logging: AiProxyConf['logging'];
}

const OBSERVER = 'ai-proxy.observer';
const CONVERTER = 'ai-proxy.converter';
const countRequest = aiRequestCounter('gatehouse_ai_proxy_requests_total',
  'Requests ai-proxy sent to a provider, by route, provider, model and response status.');
const DONE = 'ai-proxy.done';
const SENT = 'ai-proxy.sent';

// APISIX's names, read by access logs and by later AI plugins' log fields
for (const name of ['request_type', 'request_llm_model', 'llm_model', 'llm_prompt_tokens',
  'llm_completion_tokens', 'llm_total_tokens', 'llm_time_to_first_token']) registerVariable(name);

// the values are credentials: masked for readers without the admin role (APISIX's encrypt_fields)
const nameMap = { type: 'object', propertyNames: { pattern: '^[a-zA-Z0-9._-]+$' }, additionalProperties: { type: 'string' }, encrypted: true };

export default definePlugin<AiProxyConf, AiProxyPrepared>({
  name: 'ai-proxy',
  description: 'Proxies OpenAI-style chat and embeddings requests to a model provider, with its auth, model and options, streaming answers through.',
  version: '0.1',
  stage: 'default',
  priority: 110,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      provider: { type: 'string', enum: [...PROVIDER_NAMES, ...UNBUILT_PROVIDERS] },
      // APISIX's gcp and aws auth (vertex-ai, bedrock) are not built: refused by name
      auth: { type: 'object', additionalProperties: false, properties: { header: nameMap, query: nameMap } },
      options: { type: 'object', properties: { model: { type: 'string' } } },
      override: {
        type: 'object',
        additionalProperties: false,
        properties: {
          endpoint: { type: 'string', minLength: 1 },
          llm_options: { type: 'object', additionalProperties: false, properties: { max_tokens: { type: 'integer', minimum: 1 } } },
        },
      },
      logging: {
        type: 'object',
        additionalProperties: false,
        properties: { summaries: { type: 'boolean', default: false }, payloads: { type: 'boolean', default: false } },
        default: {},
      },
      timeout: { type: 'integer', minimum: 1, maximum: 600000, default: 30000 },
      max_req_body_size: { type: 'integer', minimum: 1 },
      keepalive: { type: 'boolean', default: true },
      keepalive_timeout: { type: 'integer', minimum: 1000, default: 60000 },
      keepalive_pool: { type: 'integer', minimum: 1, default: 30 },
      ssl_verify: { type: 'boolean', default: true },
    },
    required: ['provider', 'auth'],
  },

  prepare(conf) {
    const adapter = providerAdapter(conf.provider);
    if (adapter === undefined) throw new Error(`provider: ${conf.provider} is not built yet in Gatehouse (built: ${PROVIDER_NAMES.join(', ')})`);
    const target = providerTarget(adapter, {
      endpoint: conf.override?.endpoint,
      timeoutMs: conf.timeout,
      keepalive: conf.keepalive,
      keepaliveTimeoutMs: conf.keepalive_timeout,
      keepalivePool: conf.keepalive_pool,
      sslVerify: conf.ssl_verify,
      authQuery: conf.auth.query,
    });
    return {
      adapter,
      protocols: protocolsOf(adapter),
      target,
      upstream: { upstream: checkedInlineUpstream(target.upstreamConf, 'override.endpoint') },
      headers: Object.entries(conf.auth.header ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
      defaultHeaders: Object.entries(adapter.defaultHeaders ?? {})
        .filter(([k]) => !Object.keys(conf.auth.header ?? {}).some((h) => h.toLowerCase() === k)),
      options: conf.options,
      maxTokens: conf.override?.llm_options?.max_tokens,
      maxBodySize: conf.max_req_body_size,
      logging: { summaries: conf.logging?.summaries ?? false, payloads: conf.logging?.payloads ?? false },
    };
  },

  async access(p, ctx) {
    const contentType = ctx.request.header('content-type');
    if (!isJsonContentType(contentType)) {
      return text(400, `unsupported content-type: ${contentType}, only application/json is supported`);
    }
    if (p.maxBodySize !== undefined && Number(ctx.request.header('content-length') ?? 0) > p.maxBodySize) {
      return text(413, `request body larger than max_req_body_size (${p.maxBodySize} bytes)`);
    }
    const read = await readJsonBody(ctx);
    if (p.maxBodySize !== undefined && (await ctx.request.body()).length > p.maxBodySize) {
      return text(413, `request body larger than max_req_body_size (${p.maxBodySize} bytes)`);
    }
    if (!read.ok && read.reason === 'empty') return text(400, 'failed to get request body: request body is empty');
    if (!read.ok && read.reason === 'not_json') return { status: 400, body: { message: read.message } };
    const detected = read.ok ? detectProtocol(read.json, ctx.request.uri) : undefined;
    if (detected === undefined || !read.ok) return text(400, 'no matching AI protocol for the request');
    const protocol = detected as AiProtocol;
    if (!p.protocols.includes(protocol)) {
      return text(400, `provider ${p.adapter.name} does not support ${detected} protocol (supported: ${p.protocols.join(', ')})`);
    }

    const body = outgoingBody(p, read.json, protocol);
    let sent: JsonObject;
    try {
      sent = p.adapter.convertRequest?.(body, protocol) ?? body;
    } catch (err) {
      if (err instanceof UnconvertibleRequest) return text(400, err.message);
      throw err;
    }
    const stream = body.stream === true;
    const requestModel = typeof read.json.model === 'string' ? read.json.model : stringOrUndefined(p.options?.model);
    ctx.setVar('request_type', stream ? 'ai_stream' : 'ai_chat');
    ctx.setVar('request_llm_model', requestModel ?? '');
    startAiContext(ctx, { provider: p.adapter.name, protocol, requestModel, sentModel: stringOrUndefined(body.model), stream });
    ctx.shared.delete(DONE);

    writeJsonBody(ctx, sent);
    if (p.logging.payloads) ctx.shared.set(SENT, sent);
    const req = ctx.request;
    req.upstreamMethod = 'POST';
    const [path, query = ''] = splitOnce(req.upstreamUri, '?');
    req.upstreamUri = p.target.pathFor(protocol, path, query);
    req.upstreamHost = p.target.host;
    req.setHeader('accept-encoding', undefined);
    req.setHeader('content-type', 'application/json');
    for (const [name, value] of p.headers) req.setHeader(name, value);
    for (const [name, value] of p.defaultHeaders) if (req.header(name) === undefined) req.setHeader(name, value);
    if (ctx.setUpstream === undefined) throw new Error('ai-proxy needs a context that can choose the upstream');
    ctx.setUpstream(p.upstream);
  },

  header_filter(p, ctx) {
    const ai = aiContext(ctx);
    if (ai === undefined || ctx.shared.has(DONE)) return;
    const contentType = ctx.response.header('content-type');
    const converter = p.adapter.responseConverter?.(ai.protocol, contentType);
    if (converter !== undefined) ctx.shared.set(CONVERTER, converter);
    ctx.shared.set(OBSERVER, new AiResponseObserver(ai, ctx.startedAt, contentType));
  },

  filtersBody: () => true,
  // only a provider whose answers are converted (Anthropic's) changes the body
  keepsBodyLength: (p) => p.adapter.responseConverter === undefined,

  body_filter(_p, ctx, chunk, eof) {
    const observer = ctx.shared.get(OBSERVER) as AiResponseObserver | undefined;
    if (observer === undefined) return undefined;
    const converter = ctx.shared.get(CONVERTER) as ResponseConverter | undefined;
    const out = converter === undefined ? chunk : converter(chunk, eof);
    observer.chunk(out);
    if (eof) finish(ctx);
    return converter === undefined ? undefined : out;
  },

  log(p, ctx) {
    const ai = aiContext(ctx);
    if (ai === undefined) return;
    finish(ctx);
    const status = ctx.response.status;
    countRequest(ctx, ai, status);
    if (p.logging.summaries || p.logging.payloads) logAiExchange(ctx, ai, status, p.logging, ctx.shared.get(SENT));
  },
});

/** Reads the rest of the answer once (at its end, or at log time when it had none) and sets the log variables. */
function finish(ctx: PluginContext): void {
  const ai = aiContext(ctx);
  if (ai === undefined || ctx.shared.has(DONE)) return;
  ctx.shared.set(DONE, true);
  (ctx.shared.get(OBSERVER) as AiResponseObserver | undefined)?.end();
  ctx.shared.delete(OBSERVER);
  setLlmVariables(ctx, ai);
}

function setLlmVariables(ctx: PluginContext, ai: AiContext): void {
  ctx.setVar('llm_model', ai.responseModel ?? ai.sentModel ?? '');
  ctx.setVar('llm_prompt_tokens', ai.usage?.prompt ?? 0);
  ctx.setVar('llm_completion_tokens', ai.usage?.completion ?? 0);
  ctx.setVar('llm_total_tokens', ai.usage?.total ?? 0);
  if (ai.timeToFirstTokenMs !== undefined) ctx.setVar('llm_time_to_first_token', ai.timeToFirstTokenMs);
}

/** APISIX's protocols that no adapter here serves yet: detected so that they are refused, not sent as another one. */
type UnbuiltProtocol = 'bedrock-converse' | 'anthropic-messages' | 'openai-responses';

/**
 * APISIX's detection order: Bedrock's converse and Anthropic's messages (by path), OpenAI's
 * responses (by path and `input`), chat (`messages`), embeddings (`input`), then any other
 * non-empty object.
 */
export function detectProtocol(json: JsonObject, uri: string): AiProtocol | UnbuiltProtocol | undefined {
  if (uri.endsWith('/converse') && json.messages !== undefined) return 'bedrock-converse';
  if (uri.endsWith('/v1/messages')) return 'anthropic-messages';
  if (uri.endsWith('/v1/responses') && json.input !== undefined) return 'openai-responses';
  if (json.messages !== undefined) return 'openai-chat';
  if (json.input !== undefined) return 'openai-embeddings';
  return Object.keys(json).length > 0 ? 'passthrough' : undefined;
}

/** The client's body with `options` written over it, max_tokens forced, and usage asked for in streamed chats. */
function outgoingBody(p: AiProxyPrepared, json: JsonObject, protocol: AiProtocol): JsonObject {
  const body: JsonObject = { ...json, ...p.options };
  if (p.maxTokens !== undefined) {
    if (protocol === 'openai-chat') {
      delete body.max_tokens;
      body.max_completion_tokens = p.maxTokens;
    } else {
      body.max_tokens = p.maxTokens;
    }
  }
  if (protocol === 'openai-chat' && body.stream === true) {
    const given = body.stream_options;
    body.stream_options = { ...(given !== null && typeof given === 'object' ? given : {}), include_usage: true };
  }
  return body;
}

function text(status: number, message: string): PhaseResult {
  return { status, body: message, headers: { 'content-type': 'text/plain; charset=utf-8' } };
}

function stringOrUndefined(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function splitOnce(s: string, sep: string): [string, string?] {
  const i = s.indexOf(sep);
  return i < 0 ? [s] : [s.slice(0, i), s.slice(i + 1)];
}
