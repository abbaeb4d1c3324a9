// ai-cache's semantic half (Higress's `embedding` + `vector`): the question is turned into a
// vector by an OpenAI-compatible embeddings endpoint, and the nearest stored question's answer
// is a hit when its score passes `threshold` by `thresholdRelation`. The vectors are kept in
// Qdrant (its REST API: points/search and points upsert, the payload holding question and
// answer) or, Gatehouse's `memory`, in this worker process's own index (cosine distance,
// 1 − cosine similarity, so `lt` a small threshold means "close"), bounded and oldest-first
// evicted. Any failure (the endpoint down, a bad reply) is a miss, logged and counted.
import { randomUUID } from 'node:crypto';
import type { PluginContext } from '../../contracts/plugin.js';
import { counter } from '../../observability/metrics.js';
import { embeddingFromReply } from '../rag/provider.js';
import { callService, postJson, type ServiceCallPolicy, type ServiceConnections } from '../outbound/service-call.js';
import { serviceFieldsAddress } from '../outbound/service-url.js';

export interface SemanticConf {
  enableSemanticCache?: boolean;
  embedding?: {
    type: 'openai'; serviceName?: string; serviceHost: string; servicePort?: number; servicePath: string;
    apiKey?: string; model: string; timeout: number;
  };
  vector?: {
    type: 'memory' | 'qdrant'; serviceName?: string; serviceHost?: string; servicePort?: number;
    apiKey?: string; collectionID?: string; topK: number; timeout: number;
    threshold: number; thresholdRelation: 'lt' | 'lte' | 'gt' | 'gte';
  };
}

export interface PreparedSemantic {
  /** The answer of the nearest stored question close enough, or undefined. */
  find(ctx: PluginContext, question: string): Promise<string | undefined>;
  remember(ctx: PluginContext, question: string, answer: string): Promise<void>;
}

const MAX_REPLY_BYTES = 4 * 1024 * 1024;
const EMBEDDED = 'ai-cache.embedded';
/** The most questions the memory index keeps per worker (oldest go first). */
export const MEMORY_VECTOR_ENTRIES = 5_000;

const EMBEDDING_TYPES = ['openai', 'dashscope', 'azure', 'cohere', 'ollama', 'huggingface', 'textin', 'xfyun'];
const VECTOR_TYPES = ['memory', 'qdrant', 'dashvector', 'chroma', 'elasticsearch', 'weaviate', 'pinecone', 'milvus'];

/** Where a service is (Higress's names; `serviceName` labels it only), and its key (a secret). */
const SERVICE_FIELDS = {
  serviceName: { type: 'string', description: 'a label only (logs)' },
  serviceHost: { type: 'string', minLength: 1 },
  servicePort: { type: 'integer', minimum: 1, maximum: 65535, description: 'default 443 (https); any other port is http' },
  apiKey: { type: 'string', encrypted: true },
} as const;

export const SEMANTIC_SCHEMA_PROPERTIES = {
  enableSemanticCache: { type: 'boolean', description: 'default: true when embedding and vector are given' },
  embedding: {
    type: 'object',
    additionalProperties: false,
    properties: {
      type: { type: 'string', enum: EMBEDDING_TYPES },
      ...SERVICE_FIELDS,
      servicePath: { type: 'string', pattern: '^/', default: '/v1/embeddings' },
      model: { type: 'string', minLength: 1, default: 'text-embedding-3-small' },
      timeout: { type: 'integer', minimum: 1, default: 10000 },
    },
    required: ['type', 'serviceHost'],
  },
  vector: {
    type: 'object',
    additionalProperties: false,
    properties: {
      type: { type: 'string', enum: VECTOR_TYPES },
      ...SERVICE_FIELDS,
      collectionID: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9_-]+$' },
      topK: { type: 'integer', minimum: 1, maximum: 100, default: 1 },
      timeout: { type: 'integer', minimum: 1, default: 10000 },
      threshold: { type: 'number' },
      thresholdRelation: { type: 'string', enum: ['lt', 'lte', 'gt', 'gte'], default: 'lt' },
    },
    required: ['type', 'threshold'],
  },
} as const;

let failures: ReturnType<typeof counter<'route' | 'stage'>> | undefined;

/** Checks the semantic fields; undefined when the cache is not semantic. Throws naming the field. */
export function prepareSemantic(conf: SemanticConf, connections: ServiceConnections): PreparedSemantic | undefined {
  const { embedding, vector } = conf;
  const enabled = conf.enableSemanticCache ?? (embedding !== undefined && vector !== undefined);
  if (!enabled) {
    if (embedding !== undefined || vector !== undefined) throw new Error('enableSemanticCache: false, but embedding or vector is given');
    return undefined;
  }
  if (embedding === undefined) throw new Error('embedding: required with enableSemanticCache');
  if (vector === undefined) throw new Error('vector: required with enableSemanticCache');
  if (embedding.type !== 'openai') throw new Error(`embedding.type: "${embedding.type}" is not built here (only openai: any OpenAI-compatible embeddings endpoint)`);
  if (vector.type !== 'memory' && vector.type !== 'qdrant') throw new Error(`vector.type: "${vector.type}" is not built here (memory, qdrant)`);
  const embedUrl = serviceFieldsAddress({ serviceDomain: embedding.serviceHost, servicePort: embedding.servicePort, servicePath: embedding.servicePath }, '/').url;
  const embedPolicy: ServiceCallPolicy = { connections, timeout: embedding.timeout, maxReplyBytes: MAX_REPLY_BYTES };
  const embedHeaders: Record<string, string> = embedding.apiKey === undefined ? {} : { authorization: `Bearer ${embedding.apiKey}` };
  const embed = async (ctx: PluginContext, text: string): Promise<number[]> => {
    // a miss embeds the question to search and again to store: once is enough
    const known = ctx.shared.get(EMBEDDED) as { text: string; v: number[] } | undefined;
    if (known?.text === text) return known.v;
    const reply = await postJson(ctx, embedUrl, embedHeaders, { model: embedding.model, input: text }, embedPolicy);
    const v = reply.status === 200 ? embeddingFromReply(reply.body) : undefined;
    if (v === undefined) throw new Error(`embeddings endpoint answered ${reply.status} without data[0].embedding`);
    ctx.shared.set(EMBEDDED, { text, v });
    return v;
  };
  const passes = relation(vector.thresholdRelation, vector.threshold);
  const index = vector.type === 'memory' ? memoryIndex(vector) : qdrantIndex(vector, { connections, timeout: vector.timeout, maxReplyBytes: MAX_REPLY_BYTES });
  return {
    async find(ctx, question) {
      try {
        const near = await index.search(ctx, await embed(ctx, question), vector.topK);
        return near.find((n) => passes(n.score))?.answer;
      } catch (err) {
        failed(ctx, 'find', err as Error);
        return undefined;
      }
    },
    async remember(ctx, question, answer) {
      try {
        await index.add(ctx, await embed(ctx, question), question, answer);
      } catch (err) {
        failed(ctx, 'store', err as Error);
      }
    },
  };
}

function failed(ctx: PluginContext, stage: 'find' | 'store', err: Error): void {
  ctx.log.warn({ err: err.message }, `ai-cache: semantic ${stage} failed`);
  failures ??= counter('gatehouse_ai_cache_semantic_errors_total', 'ai-cache semantic lookups (find) and stores that failed, by route.', ['route', 'stage']);
  failures.inc({ route: ctx.routeId ?? '', stage });
}

interface Near { score: number; answer: string }
interface VectorIndex {
  search(ctx: PluginContext, v: number[], topK: number): Promise<Near[]>;
  add(ctx: PluginContext, v: number[], question: string, answer: string): Promise<void>;
}

function relation(r: 'lt' | 'lte' | 'gt' | 'gte', t: number): (score: number) => boolean {
  switch (r) {
    case 'lt': return (s) => s < t;
    case 'lte': return (s) => s <= t;
    case 'gt': return (s) => s > t;
    case 'gte': return (s) => s >= t;
  }
}

/** 1 − cosine similarity: 0 for the same direction, 2 for opposite ones (and for a zero vector). */
export function cosineDistance(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) return 2;
  let dot = 0; let na = 0; let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? 2 : 1 - dot / Math.sqrt(na * nb);
}

function memoryIndex(conf: NonNullable<SemanticConf['vector']>): VectorIndex {
  for (const field of ['serviceHost', 'servicePort', 'apiKey', 'collectionID'] as const) {
    if (conf[field] !== undefined) throw new Error(`vector.${field}: not for type memory`);
  }
  const entries = new Map<string, { v: number[]; answer: string }>();
  return {
    search(_ctx, v, topK) {
      const scored = [...entries.values()].map((e) => ({ score: cosineDistance(v, e.v), answer: e.answer }));
      return Promise.resolve(scored.sort((x, y) => x.score - y.score).slice(0, topK));
    },
    add(_ctx, v, question, answer) {
      entries.delete(question);
      entries.set(question, { v, answer });
      if (entries.size > MEMORY_VECTOR_ENTRIES) entries.delete(entries.keys().next().value!);
      return Promise.resolve();
    },
  };
}

function qdrantIndex(conf: NonNullable<SemanticConf['vector']>, policy: ServiceCallPolicy): VectorIndex {
  if (conf.serviceHost === undefined) throw new Error('vector.serviceHost: required for type qdrant');
  if (conf.collectionID === undefined) throw new Error('vector.collectionID: required for type qdrant');
  const base = serviceFieldsAddress({ serviceDomain: conf.serviceHost, servicePort: conf.servicePort, servicePath: `/collections/${conf.collectionID}/points` }, '/').url;
  const headers: Record<string, string> = conf.apiKey === undefined ? {} : { 'api-key': conf.apiKey };
  return {
    async search(ctx, v, topK) {
      const reply = await postJson(ctx, `${base}/search`, headers, { vector: v, limit: topK, with_payload: true }, policy);
      if (reply.status !== 200) throw new Error(`qdrant search answered ${reply.status}`);
      const result = (JSON.parse(reply.body.toString('utf8')) as { result?: unknown }).result;
      if (!Array.isArray(result)) throw new Error('qdrant search reply has no result array');
      return result.flatMap((r: { score?: unknown; payload?: { answer?: unknown } } | null) =>
        typeof r?.score === 'number' && typeof r.payload?.answer === 'string' ? [{ score: r.score, answer: r.payload.answer }] : []);
    },
    async add(ctx, v, question, answer) {
      const body = JSON.stringify({ points: [{ id: randomUUID(), vector: v, payload: { question, answer } }] });
      const reply = await callService(ctx, { method: 'PUT', url: `${base}?wait=true`, headers: { ...headers, 'content-type': 'application/json' }, body }, policy);
      if (reply.status !== 200) throw new Error(`qdrant upsert answered ${reply.status}`);
    },
  };
}
