// ai-rag (APISIX's): retrieval-augmented generation in front of the model. The client's
// body carries `ai_rag: {embeddings: {input}, vector_search: {fields}}`; the input is
// embedded by the configured embeddings service, the vector searched in the configured
// index, and the index's raw answer appended to `messages` as a user message, `ai_rag`
// removed, before ai-proxy (or the route's upstream) gets the body. A non-200 from either
// service is the client's answer, as in APISIX.
import type { PhaseResult, PluginContext } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { counter } from '../observability/metrics.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { pluginNodeLimits } from '../plugin-runtime/node-limits.js';
import { poolFor } from './common/http-client.js';
import { readJsonBody, writeJsonBody, type JsonObject } from '../ai/protocol/json-body.js';
import { postJson, ServiceCallError, type ServiceCallPolicy, type ServiceReply } from '../ai/outbound/service-call.js';
import { AZURE_SERVICE_SCHEMA, embeddingFromReply, type AzureServiceConf, type OutboundRequest } from '../ai/rag/provider.js';
import { azureOpenAiEmbeddingsRequest } from '../ai/rag/azure-openai-embeddings.js';
import { OPENAI_EMBEDDINGS_SCHEMA, openAiEmbeddingsRequest, type OpenAiEmbeddingsConf } from '../ai/rag/openai-embeddings.js';
import { azureAiSearchRequest } from '../ai/rag/azure-ai-search.js';

export interface AiRagConf {
  embeddings_provider: { azure_openai?: AzureServiceConf; openai?: OpenAiEmbeddingsConf };
  vector_search_provider: { azure_ai_search: AzureServiceConf };
  ssl_verify: boolean;
  timeout: number;
}

interface Prepared {
  embeddingsRequest: (embeddings: JsonObject) => OutboundRequest;
  searchRequest: (vector: number[], fields: string) => OutboundRequest;
  policy: ServiceCallPolicy;
}

type Result = 'augmented' | 'bad_request' | 'embeddings_failed' | 'search_failed';

registerVariable('ai_rag_result');
registerVariable('ai_rag_embeddings_status');
registerVariable('ai_rag_search_status');
registerVariable('ai_rag_context_bytes');

let requestsTotal: ReturnType<typeof counter<'route' | 'result'>> | undefined;

function finish(ctx: PluginContext, result: Result, answer?: PhaseResult): PhaseResult | undefined {
  ctx.setVar('ai_rag_result', result);
  requestsTotal ??= counter('gatehouse_ai_rag_requests_total', 'Requests ai-rag handled, by route and result', ['route', 'result']);
  requestsTotal.inc({ route: ctx.routeId ?? '', result });
  return answer;
}

const errorReply = (status: number, message: string): PhaseResult =>
  ({ status, body: JSON.stringify({ error_msg: message }), headers: { 'content-type': 'application/json' } });

/** The service's own non-200 answer, status, body and type, for the client. */
const passThrough = (reply: ServiceReply): PhaseResult =>
  ({ status: reply.status, body: reply.body, headers: reply.contentType === undefined ? {} : { 'content-type': reply.contentType } });

/** `ai_rag` as APISIX's request schema wants it, or the reason it is not. */
function ragRequest(body: JsonObject): { embeddings: JsonObject; fields: string } | string {
  const rag = body.ai_rag;
  if (rag === undefined) return 'request body must have an "ai_rag" field';
  if (rag === null || typeof rag !== 'object' || Array.isArray(rag)) return '"ai_rag" must be an object';
  const { embeddings, vector_search: search } = rag as JsonObject;
  if (embeddings === null || typeof embeddings !== 'object' || Array.isArray(embeddings)) return '"ai_rag.embeddings" must be an object';
  if (typeof (embeddings as JsonObject).input !== 'string') return '"ai_rag.embeddings.input" must be a string';
  if (search === null || typeof search !== 'object' || Array.isArray(search)) return '"ai_rag.vector_search" must be an object';
  const fields = (search as JsonObject).fields;
  if (typeof fields !== 'string') return '"ai_rag.vector_search.fields" must be a string';
  if (body.messages !== undefined && !Array.isArray(body.messages)) return '"messages" must be an array';
  return { embeddings: embeddings as JsonObject, fields };
}

/** Calls one service; its reply, or the gateway's answer when there is none (500, 504 on a timeout). */
async function call(ctx: PluginContext, p: Prepared, req: OutboundRequest, what: string, statusVar: string): Promise<ServiceReply | PhaseResult> {
  try {
    const reply = await postJson(ctx, req.url, req.headers, req.json, p.policy);
    ctx.setVar(statusVar, reply.status);
    return reply;
  } catch (err) {
    const e = err as ServiceCallError;
    ctx.setVar(statusVar, e.kind);
    ctx.log.error(`ai-rag: ${what} call failed: ${e.message}`);
    return errorReply(e.kind === 'timeout' ? 504 : 500, `ai-rag: ${what} service ${e.kind === 'timeout' ? 'timed out' : 'failed'}`);
  }
}

const isReply = (r: ServiceReply | PhaseResult): r is ServiceReply => 'contentType' in r;

const oneProvider = (name: string, schema: object): object => ({
  type: 'object',
  additionalProperties: false,
  properties: { [name]: schema },
  required: [name],
});

export default definePlugin<AiRagConf, Prepared>({
  name: 'ai-rag',
  description: 'Adds vector-search results for the request\'s question to the prompt: embeddings, then an index search, as APISIX\'s ai-rag.',
  version: '0.1',
  stage: 'default',
  priority: 405,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      embeddings_provider: {
        type: 'object',
        additionalProperties: false,
        properties: { azure_openai: AZURE_SERVICE_SCHEMA, openai: OPENAI_EMBEDDINGS_SCHEMA },
        minProperties: 1,
        maxProperties: 1,
      },
      vector_search_provider: oneProvider('azure_ai_search', AZURE_SERVICE_SCHEMA),
      ssl_verify: { type: 'boolean', default: true },
      timeout: { type: 'integer', minimum: 1, maximum: 600_000, default: 30_000 },
    },
    required: ['embeddings_provider', 'vector_search_provider'],
  },

  prepare(conf) {
    const { azure_openai: azure, openai } = conf.embeddings_provider;
    const search = conf.vector_search_provider.azure_ai_search;
    return {
      embeddingsRequest: azure !== undefined
        ? (e) => azureOpenAiEmbeddingsRequest(azure, e)
        : (e) => openAiEmbeddingsRequest(openai!, e),
      searchRequest: (vector, fields) => azureAiSearchRequest(search, vector, fields),
      policy: { connections: poolFor({ ssl_verify: conf.ssl_verify, keepalive: true, keepalive_timeout: 60_000, keepalive_pool: 5 }), timeout: conf.timeout, maxReplyBytes: pluginNodeLimits().maxBufferedBodySize },
    };
  },

  async access(p, ctx) {
    const read = await readJsonBody(ctx);
    if (!read.ok) return finish(ctx, 'bad_request', errorReply(400, read.message));
    const rag = ragRequest(read.json);
    if (typeof rag === 'string') return finish(ctx, 'bad_request', errorReply(400, rag));

    const embedded = await call(ctx, p, p.embeddingsRequest(rag.embeddings), 'embeddings', 'ai_rag_embeddings_status');
    if (!isReply(embedded)) return finish(ctx, 'embeddings_failed', embedded);
    if (embedded.status !== 200) return finish(ctx, 'embeddings_failed', passThrough(embedded));
    const vector = embeddingFromReply(embedded.body);
    if (vector === undefined) {
      ctx.log.error('ai-rag: the embeddings reply has no data[0].embedding array of numbers');
      return finish(ctx, 'embeddings_failed', errorReply(500, 'ai-rag: the embeddings reply has no embedding'));
    }

    const found = await call(ctx, p, p.searchRequest(vector, rag.fields), 'vector search', 'ai_rag_search_status');
    if (!isReply(found)) return finish(ctx, 'search_failed', found);
    if (found.status !== 200) return finish(ctx, 'search_failed', passThrough(found));

    const body = read.json;
    delete body.ai_rag;
    const context = found.body.toString('utf8');
    body.messages ??= [];
    (body.messages as unknown[]).push({ role: 'user', content: context });
    writeJsonBody(ctx, body);
    ctx.setVar('ai_rag_context_bytes', found.body.length);
    return finish(ctx, 'augmented');
  },
});
