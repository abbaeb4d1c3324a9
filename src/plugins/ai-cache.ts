// ai-cache: Higress's (wasm-go). Answers a chat request from a cache when the same question
// was answered before: the key is the question (the last one, by default) normalised, the
// value the answer's text; a hit is answered here in the OpenAI format (JSON, or an event
// stream when the request asks `stream: true`) without calling the model. A miss goes on to
// the model, and a complete answer is stored as it passes (a streamed one joined).
//
// Gatehouse differences: the store is `cache.type` `memory` (the node's LRU table, shared by
// its workers through the primary) or `redis` (`serviceHost`, or `serviceName` when it is a
// host, not an Envoy cluster). The question is normalised (trimmed, whitespace runs made one
// space; case kept). Answers calling tools, reporting errors, cut short (finish_reason other
// than stop, a stream without its end) or failing (status other than 200) are never stored.
// Semantic matching (embedding + vector) is in src/ai/cache/semantic-cache.ts.
import type { PluginContext } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { counter } from '../observability/metrics.js';
import { isJsonContentType, readJsonBody, type JsonObject } from '../ai/protocol/json-body.js';
import { gjsonGet, gjsonString, parseGjsonPath, type GjsonPath } from '../ai/json-path/gjson-path.js';
import { memoryAnswerStore, type AnswerStore } from '../ai/cache/answer-store.js';
import { RedisAnswerStore } from '../ai/cache/redis-answer-store.js';
import { AnswerCapture } from '../ai/context/answer-capture.js';
import { detectProtocol } from '../ai/proxy/proxy.js';
import { poolFor } from './common/http-client.js';
import {
  SEMANTIC_SCHEMA_PROPERTIES, prepareSemantic, type PreparedSemantic, type SemanticConf,
} from '../ai/cache/semantic-cache.js';

export interface AiCacheConf extends SemanticConf {
  cache?: {
    type: 'memory' | 'redis';
    serviceName?: string; serviceHost?: string; servicePort?: number;
    username?: string; password?: string; database?: number; timeout?: number;
    cacheTTL: number; cacheKeyPrefix: string;
  };
  cacheKeyStrategy: 'lastQuestion' | 'allQuestions' | 'disabled';
  cacheKeyFrom: string;
  cacheValueFrom: string;
  cacheStreamValueFrom: string;
  responseTemplate: string;
  streamResponseTemplate: string;
}

interface AiCachePrepared {
  store: AnswerStore | undefined;
  ttl: number;
  prefix: string;
  strategy: AiCacheConf['cacheKeyStrategy'];
  keyFrom: GjsonPath;
  valueFrom: GjsonPath;
  streamValueFrom: GjsonPath;
  template: [string, string];
  streamTemplate: [string, string];
  semantic: PreparedSemantic | undefined;
}

export const DEFAULT_RESPONSE_TEMPLATE = '{"id":"from-cache","choices":[{"index":0,"message":{"role":"assistant","content":"%s"},'
  + '"finish_reason":"stop"}],"model":"from-cache","object":"chat.completion","usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}}';
export const DEFAULT_STREAM_RESPONSE_TEMPLATE = 'data:{"id":"from-cache","choices":[{"index":0,"delta":{"role":"assistant","content":"%s"},'
  + '"finish_reason":"stop"}],"model":"from-cache","object":"chat.completion","usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}}'
  + '\n\ndata:[DONE]\n\n';

/** `hit`, `miss` or `skip` (the skip header, no question, a body that is not JSON or not an OpenAI chat, strategy disabled). */
registerVariable('ai_cache_status');

/** The embeddings and vector services' connections: verified TLS, kept alive. */
const SERVICE_CONNECTIONS = { ssl_verify: true, keepalive: true, keepalive_timeout: 60_000, keepalive_pool: 5 };

const PENDING = 'ai-cache.pending';
const OTHER_APIS = new Set(['anthropic-messages', 'bedrock-converse', 'openai-responses']);
const CAPTURE = 'ai-cache.capture';

interface Pending { key: string; question: string }

let lookups: ReturnType<typeof counter<'route' | 'status'>> | undefined;
let stored: ReturnType<typeof counter<'route'>> | undefined;
let storeErrors: ReturnType<typeof counter<'store'>> | undefined;

const text = { type: 'string' } as const;

export default definePlugin<AiCacheConf, AiCachePrepared>({
  name: 'ai-cache',
  description: 'Answers a chat request from a cache of earlier answers to the same question (memory or Redis, optionally semantic), streamed answers replayed as a stream.',
  version: '0.1',
  stage: 'default',
  priority: 800,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      cache: {
        type: 'object',
        additionalProperties: false,
        properties: {
          type: { type: 'string', enum: ['memory', 'redis'] },
          serviceName: { type: 'string', minLength: 1, description: 'redis: the server\'s host when serviceHost is not given (an Envoy cluster name like redis.static is refused)' },
          serviceHost: { type: 'string', minLength: 1, description: 'redis: the server\'s host' },
          servicePort: { type: 'integer', minimum: 1, maximum: 65535, description: 'redis; default 6379' },
          username: text,
          password: { type: 'string', encrypted: true, description: 'redis; a secret, never logged' },
          database: { type: 'integer', minimum: 0, description: 'redis; default 0' },
          timeout: { type: 'integer', minimum: 1, description: 'redis: ms an operation may take; default 10000' },
          cacheTTL: { type: 'integer', minimum: 0, default: 0, description: 'seconds an answer is kept; 0: until evicted' },
          cacheKeyPrefix: { type: 'string', default: 'higress-ai-cache:' },
        },
        required: ['type'],
      },
      ...SEMANTIC_SCHEMA_PROPERTIES,
      cacheKeyStrategy: { type: 'string', enum: ['lastQuestion', 'allQuestions', 'disabled'], default: 'lastQuestion' },
      cacheKeyFrom: { type: 'string', minLength: 1, default: 'messages.@reverse.0.content' },
      cacheValueFrom: { type: 'string', minLength: 1, default: 'choices.0.message.content' },
      cacheStreamValueFrom: { type: 'string', minLength: 1, default: 'choices.0.delta.content' },
      responseTemplate: { type: 'string', default: DEFAULT_RESPONSE_TEMPLATE },
      streamResponseTemplate: { type: 'string', default: DEFAULT_STREAM_RESPONSE_TEMPLATE },
    },
  },

  prepare(conf) {
    const semantic = prepareSemantic(conf, poolFor(SERVICE_CONNECTIONS));
    if (conf.cache === undefined && semantic === undefined) throw new Error('cache: required (or embedding and vector for a semantic cache)');
    return {
      store: conf.cache === undefined ? undefined : prepareStore(conf.cache),
      ttl: conf.cache?.cacheTTL ?? 0,
      prefix: conf.cache?.cacheKeyPrefix ?? 'higress-ai-cache:',
      strategy: conf.cacheKeyStrategy,
      keyFrom: parseGjsonPath(conf.cacheKeyFrom, 'cacheKeyFrom'),
      valueFrom: parseGjsonPath(conf.cacheValueFrom, 'cacheValueFrom'),
      streamValueFrom: parseGjsonPath(conf.cacheStreamValueFrom, 'cacheStreamValueFrom'),
      template: splitTemplate(conf.responseTemplate, 'responseTemplate'),
      streamTemplate: splitTemplate(conf.streamResponseTemplate, 'streamResponseTemplate'),
      semantic,
    };
  },

  async access(p, ctx) {
    const found = await lookUp(p, ctx);
    if (found === undefined) return undefined;
    const [before, after] = found.stream ? p.streamTemplate : p.template;
    const escaped = JSON.stringify(found.answer).slice(1, -1);
    return {
      status: 200,
      body: before + escaped + after,
      headers: { 'content-type': found.stream ? 'text/event-stream; charset=utf-8' : 'application/json; charset=utf-8' },
    };
  },

  header_filter(p, ctx) {
    if (!ctx.shared.has(PENDING) || ctx.response.status !== 200) return;
    ctx.shared.set(CAPTURE, new AnswerCapture(ctx.response.header('content-type'), p.valueFrom, p.streamValueFrom));
  },

  filtersBody: () => true,
  keepsBodyLength: () => true,

  body_filter(_p, ctx, chunk) {
    (ctx.shared.get(CAPTURE) as AnswerCapture | undefined)?.chunk(chunk);
    return undefined;
  },

  async log(p, ctx) {
    const capture = ctx.shared.get(CAPTURE) as AnswerCapture | undefined;
    const pending = ctx.shared.get(PENDING) as Pending | undefined;
    if (capture === undefined || pending === undefined) return;
    const got = capture.end();
    if (!got.ok) {
      ctx.log.debug({ reason: got.reason }, 'ai-cache: answer not stored');
      return;
    }
    if (p.store !== undefined) await p.store.set(pending.key, got.answer, p.ttl);
    if (p.semantic !== undefined) await p.semantic.remember(ctx, pending.question, got.answer);
    stored ??= counter('gatehouse_ai_cache_stored_total', 'Answers ai-cache stored, by route.', ['route']);
    stored.inc({ route: ctx.routeId ?? '' });
  },
});

/** The cached answer for the request's question, or undefined (a miss, marked for storing, or a skip). */
async function lookUp(p: AiCachePrepared, ctx: PluginContext): Promise<{ answer: string; stream: boolean } | undefined> {
  const question = await questionOf(p, ctx);
  if (question === undefined) {
    setStatus(ctx, 'skip');
    return undefined;
  }
  const key = p.prefix + question.text;
  let answer = p.store === undefined ? undefined : await p.store.get(key);
  if (answer === undefined && p.semantic !== undefined) answer = await p.semantic.find(ctx, question.text);
  if (answer !== undefined) {
    setStatus(ctx, 'hit');
    return { answer, stream: question.stream };
  }
  setStatus(ctx, 'miss');
  ctx.shared.set(PENDING, { key, question: question.text } satisfies Pending);
  return undefined;
}

async function questionOf(p: AiCachePrepared, ctx: PluginContext): Promise<{ text: string; stream: boolean } | undefined> {
  if (p.strategy === 'disabled') return undefined;
  if (ctx.request.header('x-higress-skip-ai-cache')?.trim().toLowerCase() === 'on') return undefined;
  if (!isJsonContentType(ctx.request.header('content-type'))) return undefined;
  const read = await readJsonBody(ctx);
  if (!read.ok) return undefined;
  // the answers are replayed in OpenAI's chat format: other APIs' clients could not read them
  if (OTHER_APIS.has(detectProtocol(read.json, ctx.request.uri) ?? '')) return undefined;
  const raw = p.strategy === 'allQuestions' ? allQuestions(read.json) : gjsonString(gjsonGet(read.json, p.keyFrom));
  const text = normaliseQuestion(raw);
  return text === '' ? undefined : { text, stream: read.json.stream === true };
}

/** Trimmed, every run of whitespace one space; case kept (it can change the meaning, and the answer). */
export function normaliseQuestion(text: string): string {
  return text.trim().replace(/\s+/g, ' ');
}

/** Higress's allQuestions: every user message's content (its text, for a string), joined by newlines. */
function allQuestions(json: JsonObject): string {
  if (!Array.isArray(json.messages)) return '';
  return json.messages
    .filter((m): m is JsonObject => m !== null && typeof m === 'object' && (m as JsonObject).role === 'user')
    .map((m) => gjsonString(m.content))
    .join('\n');
}

function setStatus(ctx: PluginContext, status: 'hit' | 'miss' | 'skip'): void {
  ctx.setVar('ai_cache_status', status);
  lookups ??= counter('gatehouse_ai_cache_lookups_total', 'Requests ai-cache looked up, by route and status (hit, miss, skip).', ['route', 'status']);
  lookups.inc({ route: ctx.routeId ?? '', status });
}

function splitTemplate(template: string, field: string): [string, string] {
  const at = template.indexOf('%s');
  if (at < 0) throw new Error(`${field}: must contain %s (where the answer goes)`);
  return [template.slice(0, at), template.slice(at + 2)];
}

function storeFailed(store: 'redis'): (err: Error) => void {
  return () => {
    storeErrors ??= counter('gatehouse_ai_cache_store_errors_total', 'ai-cache lookups and stores that failed (a miss, or the answer not stored), by store.', ['store']);
    storeErrors.inc({ store });
  };
}

function prepareStore(c: NonNullable<AiCacheConf['cache']>): AnswerStore {
  if (c.type === 'memory') {
    for (const field of ['serviceName', 'serviceHost', 'servicePort', 'username', 'password', 'database', 'timeout'] as const) {
      if (c[field] !== undefined) throw new Error(`cache.${field}: only for type redis`);
    }
    return memoryAnswerStore();
  }
  const host = c.serviceHost ?? c.serviceName;
  if (host === undefined) throw new Error('cache.serviceHost: required for type redis (or serviceName naming the host)');
  if (c.serviceHost === undefined && /\.(static|dns)$/.test(host)) {
    throw new Error(`cache.serviceName: "${host}" is an Envoy cluster name; give the Redis host in cache.serviceHost`);
  }
  return new RedisAnswerStore({
    policy: 'redis', host, port: c.servicePort ?? 6379, username: c.username, password: c.password,
    database: c.database ?? 0, tls: false, tlsVerify: false, timeoutMs: c.timeout ?? 10_000,
  }, storeFailed('redis'));
}
