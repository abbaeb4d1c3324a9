// Proxying one request to a model provider, for the plugins that do (ai-proxy, and
// ai-proxy-multi choosing among several providers): the schema of a provider instance,
// its preparation (adapter, target, auth), APISIX's checks of the client's request, the
// rewrite into the provider's request (the data plane then proxies it to the provider's
// upstream), and the observation of the answer (usage into the AI context, conversion
// when the provider's format is not the client's).
import type { PhaseResult, PluginContext, UpstreamChoice } from '../../contracts/plugin.js';
import { AiResponseObserver, aiContext, startAiContext, type AiContext } from '../context/context.js';
import { logAiExchange } from '../context/observe.js';
import { isJsonContentType, readJsonBody, writeJsonBody, type JsonObject } from '../protocol/json-body.js';
import { protocolsOf, UnconvertibleRequest, type AiProtocol, type ProviderAdapter, type ResponseConverter } from './provider.js';
import { PROVIDER_NAMES, UNBUILT_PROVIDERS, providerAdapter } from '../providers/index.js';
import { providerTarget, type ProviderTarget } from './target.js';

/** One provider as configured (APISIX's ai-proxy fields, also ai-proxy-multi's instance fields). */
export interface ProviderConf {
  provider: string;
  auth: { header?: Record<string, string>; query?: Record<string, string> };
  options?: JsonObject;
  override?: { endpoint?: string; llm_options?: { max_tokens?: number } };
  timeout: number;
  keepalive: boolean;
  keepalive_timeout: number;
  keepalive_pool: number;
  ssl_verify: boolean;
}

// the values are credentials: masked for readers without the admin role (APISIX's encrypt_fields)
const nameMap = { type: 'object', propertyNames: { pattern: '^[a-zA-Z0-9._-]+$' }, additionalProperties: { type: 'string' }, encrypted: true };

/** The JSON Schema properties of ProviderConf (defaults included); `provider` and `auth` are required. */
export const PROVIDER_SCHEMA_PROPERTIES: Record<string, unknown> = {
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
  timeout: { type: 'integer', minimum: 1, maximum: 600000, default: 30000 },
  keepalive: { type: 'boolean', default: true },
  keepalive_timeout: { type: 'integer', minimum: 1000, default: 60000 },
  keepalive_pool: { type: 'integer', minimum: 1, default: 30 },
  ssl_verify: { type: 'boolean', default: true },
};

/** The JSON Schema properties of the call's options around the providers (APISIX's `logging`, `max_req_body_size`). */
export const CALL_SCHEMA_PROPERTIES: Record<string, unknown> = {
  logging: {
    type: 'object',
    additionalProperties: false,
    properties: { summaries: { type: 'boolean', default: false }, payloads: { type: 'boolean', default: false } },
    default: {},
  },
  max_req_body_size: { type: 'integer', minimum: 1 },
};

export interface PreparedProvider {
  adapter: ProviderAdapter;
  protocols: AiProtocol[];
  target: ProviderTarget;
  /** `auth.header`, lower-case names. */
  headers: [string, string][];
  /** The adapter's headers `auth.header` does not give: sent when the client does not either. */
  defaultHeaders: [string, string][];
  options: JsonObject | undefined;
  maxTokens: number | undefined;
}

/**
 * A provider ready to serve requests; throws an Error naming the field (a provider not built,
 * a missing or unusable endpoint). The caller checks `target.upstreamConf` as an upstream.
 */
export function prepareProvider(conf: ProviderConf): PreparedProvider {
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
  const authNames = Object.keys(conf.auth.header ?? {}).map((h) => h.toLowerCase());
  return {
    adapter,
    protocols: protocolsOf(adapter),
    target,
    headers: Object.entries(conf.auth.header ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
    defaultHeaders: Object.entries(adapter.defaultHeaders ?? {}).filter(([k]) => !authNames.includes(k)),
    options: conf.options,
    maxTokens: conf.override?.llm_options?.max_tokens,
  };
}

/** APISIX's protocols that no adapter here serves yet: detected so that they are refused, not sent as another one. */
export type UnbuiltProtocol = 'bedrock-converse' | 'anthropic-messages' | 'openai-responses';

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

export interface AiRequest {
  json: JsonObject;
  protocol: AiProtocol | UnbuiltProtocol;
}

/**
 * The client's request checked as APISIX's ai-proxy does (JSON Content-Type, a body within
 * `maxBodySize`, valid JSON, a known protocol), or the answer refusing it.
 */
export async function readAiRequest(ctx: PluginContext, maxBodySize: number | undefined): Promise<AiRequest | PhaseResult> {
  const contentType = ctx.request.header('content-type');
  if (!isJsonContentType(contentType)) {
    return text(400, `unsupported content-type: ${contentType}, only application/json is supported`);
  }
  const tooLarge = (): PhaseResult => text(413, `request body larger than max_req_body_size (${maxBodySize} bytes)`);
  if (maxBodySize !== undefined && Number(ctx.request.header('content-length') ?? 0) > maxBodySize) return tooLarge();
  const read = await readJsonBody(ctx);
  if (maxBodySize !== undefined && (await ctx.request.body()).length > maxBodySize) return tooLarge();
  if (!read.ok && read.reason === 'empty') return text(400, 'failed to get request body: request body is empty');
  if (!read.ok && read.reason === 'not_json') return { status: 400, body: { message: read.message } };
  const protocol = read.ok ? detectProtocol(read.json, ctx.request.uri) : undefined;
  if (protocol === undefined || !read.ok) return text(400, 'no matching AI protocol for the request');
  return { json: read.json, protocol };
}

const ADAPTER = 'ai.proxy.adapter';
const OBSERVER = 'ai.proxy.observer';
const CONVERTER = 'ai.proxy.converter';
const DONE = 'ai.proxy.done';

/**
 * Rewrites the request for `provider` and sends it to `upstream` (its checked target):
 * the body (options, max_tokens, usage asked for in streamed chats, the adapter's
 * conversion), method, path, query, headers and auth; starts the AI context and sets
 * `request_type` and `request_llm_model`. Returns the answer refusing a request the
 * provider cannot serve, else the body as sent.
 */
export function sendToProvider(ctx: PluginContext, provider: PreparedProvider, upstream: UpstreamChoice,
  request: AiRequest): PhaseResult | { sent: JsonObject } {
  const { json, protocol: detected } = request;
  const protocol = detected as AiProtocol;
  if (!provider.protocols.includes(protocol)) {
    return text(400, `provider ${provider.adapter.name} does not support ${detected} protocol (supported: ${provider.protocols.join(', ')})`);
  }
  const body = outgoingBody(provider, json, protocol);
  let sent: JsonObject;
  try {
    sent = provider.adapter.convertRequest?.(body, protocol) ?? body;
  } catch (err) {
    if (err instanceof UnconvertibleRequest) return text(400, err.message);
    throw err;
  }
  const stream = body.stream === true;
  const requestModel = typeof json.model === 'string' ? json.model : stringOrUndefined(provider.options?.model);
  ctx.setVar('request_type', stream ? 'ai_stream' : 'ai_chat');
  ctx.setVar('request_llm_model', requestModel ?? '');
  startAiContext(ctx, { provider: provider.adapter.name, protocol, requestModel, sentModel: stringOrUndefined(body.model), stream });
  ctx.shared.set(ADAPTER, provider.adapter);
  ctx.shared.delete(DONE);

  writeJsonBody(ctx, sent);
  const req = ctx.request;
  req.upstreamMethod = 'POST';
  const q = req.upstreamUri.indexOf('?');
  req.upstreamUri = q < 0 ? provider.target.pathFor(protocol, req.upstreamUri, '')
    : provider.target.pathFor(protocol, req.upstreamUri.slice(0, q), req.upstreamUri.slice(q + 1));
  req.upstreamHost = provider.target.host;
  req.setHeader('accept-encoding', undefined);
  req.setHeader('content-type', 'application/json');
  for (const [name, value] of provider.headers) req.setHeader(name, value);
  for (const [name, value] of provider.defaultHeaders) if (req.header(name) === undefined) req.setHeader(name, value);
  if (ctx.setUpstream === undefined) throw new Error('proxying to a model provider needs a context that can choose the upstream');
  ctx.setUpstream(upstream);
  return { sent };
}

/** header_filter: starts reading (and, for a provider that needs it, converting) the provider's answer. */
export function observeProviderResponse(ctx: PluginContext): void {
  const ai = aiContext(ctx);
  const adapter = ctx.shared.get(ADAPTER) as ProviderAdapter | undefined;
  if (ai === undefined || adapter === undefined || ctx.shared.has(DONE)) return;
  const contentType = ctx.response.header('content-type');
  const converter = adapter.responseConverter?.(ai.protocol, contentType);
  if (converter !== undefined) ctx.shared.set(CONVERTER, converter);
  ctx.shared.set(OBSERVER, new AiResponseObserver(ai, ctx.startedAt, contentType));
}

/** body_filter: the chunk to send instead (a converted answer), or undefined to keep it; reads it either way. */
export function observeProviderChunk(ctx: PluginContext, chunk: Buffer, eof: boolean): Buffer | undefined {
  const observer = ctx.shared.get(OBSERVER) as AiResponseObserver | undefined;
  if (observer === undefined) return undefined;
  const converter = ctx.shared.get(CONVERTER) as ResponseConverter | undefined;
  const out = converter === undefined ? chunk : converter(chunk, eof);
  observer.chunk(out);
  if (eof) finishProviderResponse(ctx);
  return converter === undefined ? undefined : out;
}

/**
 * Reads the rest of the answer once (at its end, or at log time when it had none) and sets
 * APISIX's llm_* variables; returns the AI context (undefined when no provider was called).
 */
export function finishProviderResponse(ctx: PluginContext): AiContext | undefined {
  const ai = aiContext(ctx);
  if (ai === undefined || ctx.shared.has(DONE)) return ai;
  ctx.shared.set(DONE, true);
  (ctx.shared.get(OBSERVER) as AiResponseObserver | undefined)?.end();
  ctx.shared.delete(OBSERVER);
  ctx.setVar('llm_model', ai.responseModel ?? ai.sentModel ?? '');
  ctx.setVar('llm_prompt_tokens', ai.usage?.prompt ?? 0);
  ctx.setVar('llm_completion_tokens', ai.usage?.completion ?? 0);
  ctx.setVar('llm_total_tokens', ai.usage?.total ?? 0);
  if (ai.timeToFirstTokenMs !== undefined) ctx.setVar('llm_time_to_first_token', ai.timeToFirstTokenMs);
  return ai;
}

/**
 * The response phases of a plugin that proxies to providers (ai-proxy, ai-proxy-multi): the
 * answer read (and converted) as it passes, then the call counted with `count` and, as
 * `logging` asks, logged with the body sent (kept in ctx.shared under `sentKey`).
 */
export function providerResponsePhases<P extends { logging: { summaries: boolean; payloads: boolean } }>(
  count: (ctx: PluginContext, ai: AiContext, status: number) => void, sentKey: string) {
  return {
    header_filter(_p: P, ctx: PluginContext): void {
      observeProviderResponse(ctx);
    },
    filtersBody: (): boolean => true,
    body_filter(_p: P, ctx: PluginContext, chunk: Buffer, eof: boolean): Buffer | undefined {
      return observeProviderChunk(ctx, chunk, eof);
    },
    log(p: P, ctx: PluginContext): void {
      const ai = finishProviderResponse(ctx);
      if (ai === undefined) return;
      const status = ctx.response.status;
      count(ctx, ai, status);
      if (p.logging.summaries || p.logging.payloads) logAiExchange(ctx, ai, status, p.logging, ctx.shared.get(sentKey));
    },
  };
}

/** The variables set here, for the plugins to register (APISIX's names). */
export const AI_PROXY_VARIABLES: readonly string[] = ['request_type', 'request_llm_model', 'llm_model', 'llm_prompt_tokens',
  'llm_completion_tokens', 'llm_total_tokens', 'llm_time_to_first_token'];

/** The client's body with `options` written over it, max_tokens forced, and usage asked for in streamed chats. */
function outgoingBody(p: PreparedProvider, json: JsonObject, protocol: AiProtocol): JsonObject {
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
