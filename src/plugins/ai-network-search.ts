// ai-network-search: Higress's ai-search under seed 000's name. The last user message of a
// chat request (or, with searchRewrite, the queries a model makes of it, each on the engines
// of its kind) is searched on every engine of `searchFrom` at once (Google Custom Search,
// Bing Web Search, Elasticsearch, arXiv; each with its own timeout, a failed one is
// logged and left out), the results merged (first of each link), and the message replaced
// by `promptTemplate` filled with them. With `needReference`, the answer gets the list of
// sources at its head or tail, streamed answers included.
import type { PluginContext } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { counter } from '../observability/metrics.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { pluginNodeLimits } from '../plugin-runtime/node-limits.js';
import { isJsonContentType, readJsonBody, writeJsonBody, type JsonObject } from '../ai/protocol/json-body.js';
import { callService, ServiceCallError, type ServiceConnections } from '../ai/outbound/service-call.js';
import type { SearchEngine, SearchQuery, SearchResult } from '../ai/search/engine.js';
import { maxCountFor, parseRewrite, rewritePrompt, rewriteRequest, type RewrittenQuery, type SearchRewriteConf } from '../ai/search/rewrite.js';
import { googleEngine, type GoogleConf } from '../ai/search/google.js';
import { bingEngine, type BingConf } from '../ai/search/bing.js';
import { elasticsearchEngine, type ElasticsearchConf } from '../ai/search/elasticsearch.js';
import { arxivEngine, type ArxivConf } from '../ai/search/arxiv.js';
import { HeldBody } from '../ai/context/held-body.js';
import { answerWithReferences, StreamReferences, type ReferenceLocation } from '../ai/search/references.js';
import { ENGINE_SCHEMAS, SEARCH_REWRITE_SCHEMA, DEFAULT_PROMPT, DEFAULT_PROMPT_WITH_REFERENCES } from '../ai/search/schema.js';
import { poolFor } from './common/http-client.js';

export interface AiNetworkSearchConf {
  defaultEnable: boolean;
  needReference: boolean;
  referenceFormat: string;
  referenceLocation: ReferenceLocation;
  defaultLang?: string;
  promptTemplate?: string;
  searchFrom: (GoogleConf | BingConf | ElasticsearchConf | ArxivConf)[];
  searchRewrite?: SearchRewriteConf;
}

interface Prepared {
  conf: AiNetworkSearchConf;
  engines: SearchEngine[];
  template: string;
  connections: ServiceConnections;
  key: string;
}

interface ResponseState {
  references: string;
  stream?: StreamReferences;
  held?: HeldBody;
  /** The stream passed an event over the bound: the rest goes as it comes. */
  broken?: boolean;
}

registerVariable('ai_network_search_status');
registerVariable('ai_network_search_results');
registerVariable('ai_network_search_failed_engines');

let engineCalls: ReturnType<typeof counter<'route' | 'engine' | 'result'>> | undefined;

function countCall(ctx: PluginContext, engine: string, result: 'ok' | 'bad_status' | 'timeout' | 'error'): void {
  engineCalls ??= counter('gatehouse_ai_network_search_engine_calls_total', 'Search engine calls ai-network-search made, by route, engine and result', ['route', 'engine', 'result']);
  engineCalls.inc({ route: ctx.routeId ?? '', engine, result });
}

/** One engine's results; none when it fails (logged and counted, the others still count). */
async function search(ctx: PluginContext, p: Prepared, engine: SearchEngine, query: SearchQuery): Promise<SearchResult[] | undefined> {
  const req = engine.request(query);
  try {
    const reply = await callService(ctx, req, { connections: p.connections, timeout: engine.timeoutMs, maxReplyBytes: pluginNodeLimits().maxBufferedBodySize });
    if (reply.status !== 200) {
      ctx.log.warn(`ai-network-search: ${engine.type} answered ${reply.status}`);
      countCall(ctx, engine.type, 'bad_status');
      return undefined;
    }
    countCall(ctx, engine.type, 'ok');
    return engine.parse(reply.body);
  } catch (err) {
    const e = err as ServiceCallError;
    ctx.log.warn(`ai-network-search: ${engine.type} failed: ${e.message}`);
    countCall(ctx, engine.type, e.kind ?? 'error');
    return undefined;
  }
}

/** The last user message's index and its text (a string content, or its text parts). */
function lastQuestion(messages: unknown): { index: number; text: string } | undefined {
  if (!Array.isArray(messages)) return undefined;
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i] as JsonObject | null;
    if (m === null || typeof m !== 'object' || m.role !== 'user') continue;
    const text = typeof m.content === 'string' ? m.content
      : Array.isArray(m.content) ? m.content.filter((c) => (c as JsonObject)?.type === 'text').map((c) => String((c as JsonObject).text ?? '')).join('\n') : '';
    return text === '' ? undefined : { index: i, text };
  }
  return undefined;
}

/** Fills the first `{name}` of each: a function replacement, so `$` in search results stays literal. */
function fill(template: string, values: Record<string, string>): string {
  let out = template;
  for (const [name, value] of Object.entries(values)) out = out.replace(`{${name}}`, () => value);
  return out;
}

function buildEngine(conf: AiNetworkSearchConf['searchFrom'][number]): SearchEngine {
  const filled = { ...conf, count: conf.count ?? 10, start: conf.start ?? 0, timeoutMillisecond: conf.timeoutMillisecond ?? 5000 };
  switch (conf.type) {
    case 'google': return googleEngine(filled as GoogleConf);
    case 'bing': return bingEngine(filled as BingConf);
    case 'elasticsearch': return elasticsearchEngine(filled as ElasticsearchConf);
    default: return arxivEngine(filled as ArxivConf);
  }
}

/** The rewritten queries; none when the model says no search is needed or cannot be asked (the request goes on as it came). */
async function rewrite(ctx: PluginContext, p: Prepared, conf: SearchRewriteConf, maxCount: number, question: string): Promise<RewrittenQuery[]> {
  const kinds = new Set(p.engines.map((e) => e.kind));
  const req = rewriteRequest(conf, rewritePrompt(kinds, maxCount, question));
  let content = '';
  try {
    const reply = await callService(ctx, req, { connections: p.connections, timeout: conf.timeoutMillisecond, maxReplyBytes: pluginNodeLimits().maxBufferedBodySize });
    if (reply.status !== 200) throw new Error(`answered ${reply.status}`);
    const doc = JSON.parse(reply.body.toString('utf8')) as { choices?: { message?: { content?: unknown } }[] };
    const text = doc.choices?.[0]?.message?.content;
    if (typeof text !== 'string') throw new Error('no choices[0].message.content in its answer');
    content = text;
  } catch (err) {
    ctx.log.warn(`ai-network-search: the searchRewrite model failed: ${(err as Error).message}`);
    ctx.setVar('ai_network_search_status', 'rewrite_failed');
    return [];
  }
  const queries = parseRewrite(content, maxCount);
  if (queries.length === 0) ctx.setVar('ai_network_search_status', 'no_search');
  return queries;
}

let instances = 0;

export default definePlugin<AiNetworkSearchConf, Prepared>({
  name: 'ai-network-search',
  description: 'Searches the web or a knowledge base (Google, Bing, Elasticsearch, arXiv) for the last question of a chat request and adds the results to the prompt, with references in the answer (Higress ai-search).',
  version: '0.1',
  stage: 'default',
  priority: 440,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      defaultEnable: { type: 'boolean', default: true },
      needReference: { type: 'boolean', default: false },
      referenceFormat: { type: 'string', pattern: '%s', maxLength: 4096, default: '**References:**\n%s' },
      referenceLocation: { type: 'string', enum: ['head', 'tail'], default: 'head' },
      defaultLang: { type: 'string', pattern: '^[A-Za-z0-9-]{1,35}$' },
      promptTemplate: { type: 'string', maxLength: 65536, allOf: [{ pattern: '\\{search_results\\}' }, { pattern: '\\{question\\}' }] },
      searchFrom: { type: 'array', minItems: 1, maxItems: 16, items: ENGINE_SCHEMAS },
      searchRewrite: SEARCH_REWRITE_SCHEMA,
    },
    required: ['searchFrom'],
  },

  prepare(conf) {
    return {
      conf,
      engines: conf.searchFrom.map(buildEngine),
      template: conf.promptTemplate ?? (conf.needReference ? DEFAULT_PROMPT_WITH_REFERENCES : DEFAULT_PROMPT),
      connections: poolFor({ ssl_verify: true, keepalive: true, keepalive_timeout: 60_000, keepalive_pool: 5 }),
      key: `ai-network-search#${++instances}`,
    };
  },

  async access(p, ctx) {
    const skip = (): undefined => { ctx.setVar('ai_network_search_status', 'skipped'); return undefined; };
    if (!isJsonContentType(ctx.request.header('content-type'))) return skip();
    const read = await readJsonBody(ctx);
    if (!read.ok) return skip();
    const body = read.json;
    if (!p.conf.defaultEnable && body.web_search_options === undefined) return skip();
    const question = lastQuestion(body.messages);
    if (question === undefined) return skip();

    let rewritten: RewrittenQuery[] | undefined;
    if (p.conf.searchRewrite !== undefined) {
      rewritten = await rewrite(ctx, p, p.conf.searchRewrite, maxCountFor(body.web_search_options, p.conf.searchRewrite.maxCount), question.text);
      if (rewritten.length === 0) return undefined;
    }
    const language = p.conf.defaultLang ?? '';
    const calls = p.engines.map(async (engine) => {
      // without rewriting every engine is asked the question; with it, each its kind of queries
      const queries: SearchQuery[] = rewritten === undefined ? [{ queries: [question.text], language }]
        : rewritten.filter((q) => q.kind === engine.kind).map((q) => ({ queries: q.queries, language, ...(q.arxivCategory !== undefined ? { arxivCategory: q.arxivCategory } : {}) }));
      if (queries.length === 0) return [];
      const each = await Promise.all(queries.map((q) => search(ctx, p, engine, q)));
      return each.every((r) => r === undefined) ? undefined : each.flatMap((r) => r ?? []);
    });
    const found = await Promise.all(calls);
    const failed = p.engines.filter((_, i) => found[i] === undefined).map((e) => e.type);
    if (failed.length > 0) ctx.setVar('ai_network_search_failed_engines', failed.join(','));
    const seen = new Set<string>();
    const results = found.flatMap((r) => r ?? []).filter((r) => !seen.has(r.link) && seen.add(r.link));
    ctx.setVar('ai_network_search_results', results.length);
    if (results.length === 0) {
      ctx.setVar('ai_network_search_status', 'no_results');
      return undefined;
    }
    const numbered = p.conf.needReference;
    const searchResults = results.map((r, i) => (numbered
      ? `[webpage ${i + 1} begin]\n${r.content}\n[webpage ${i + 1} end]`
      : `[webpage begin]\n${r.content}\n[webpage end]`)).join('\n');
    const prompt = fill(p.template, { search_results: searchResults, question: question.text, cur_date: new Date().toISOString().slice(0, 10) });
    (body.messages as JsonObject[])[question.index]!.content = prompt;
    writeJsonBody(ctx, body);
    ctx.setVar('ai_network_search_status', 'searched');
    if (numbered) {
      const list = results.map((r, i) => `[${i + 1}] [${r.title}](${r.link})`).join('\n\n');
      ctx.shared.set(p.key, { references: p.conf.referenceFormat.replace('%s', () => list) } satisfies ResponseState);
    }
    return undefined;
  },

  header_filter(p, ctx) {
    const state = ctx.shared.get(p.key) as ResponseState | undefined;
    if (state === undefined || ctx.response.status !== 200) return;
    const encoding = ctx.response.header('content-encoding');
    if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') return;
    const type = (ctx.response.header('content-type') ?? '').toLowerCase();
    if (type.startsWith('text/event-stream')) {
      state.stream = new StreamReferences(state.references, p.conf.referenceLocation);
    } else {
      const length = ctx.response.header('content-length');
      if (length !== undefined && Number(length) > pluginNodeLimits().maxBufferedBodySize) return;
      state.held = new HeldBody(pluginNodeLimits().maxBufferedBodySize);
    }
    ctx.response.setHeader('content-length', undefined);
    ctx.response.setHeader('etag', undefined);
  },

  filtersBody: (p) => p.conf.needReference,

  body_filter(p, ctx, chunk, eof) {
    const state = ctx.shared.get(p.key) as ResponseState | undefined;
    if (state?.stream !== undefined) return streamChunk(state, state.stream, chunk, eof);
    if (state?.held === undefined || !state.held.holding) return undefined;
    const taken = state.held.push(chunk, eof);
    if (taken.kind === 'held') return Buffer.alloc(0);
    if (taken.kind === 'overflow' || taken.body.length === 0) return taken.body;
    return answerWithReferences(taken.body, state.references, p.conf.referenceLocation) ?? taken.body;
  },
});

function streamChunk(state: ResponseState, stream: StreamReferences, chunk: Buffer, eof: boolean): string | Buffer | undefined {
  if (state.broken === true) return undefined;
  try {
    return stream.push(chunk) + (eof ? stream.end() : '');
  } catch {
    state.broken = true;
    return chunk;
  }
}
