// ai-rag's `embeddings_provider.openai`, a Gatehouse extension: any OpenAI-compatible
// embeddings endpoint (OpenAI, a local server, a gateway in front of one). The client's
// `ai_rag.embeddings` object is the body, `model` set from the config (the client's is
// replaced: the route decides which model embeds, as the index was built with it), and
// the key sent as a bearer token.
import type { JsonObject } from '../protocol/json-body.js';
import type { OutboundRequest } from './provider.js';

export interface OpenAiEmbeddingsConf {
  endpoint: string;
  api_key?: string;
  model: string;
}

export const OPENAI_EMBEDDINGS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    endpoint: { type: 'string', pattern: '^https?://', maxLength: 2048, default: 'https://api.openai.com/v1/embeddings' },
    api_key: { type: 'string', minLength: 1, maxLength: 4096, encrypted: true },
    model: { type: 'string', minLength: 1, maxLength: 256 },
  },
  required: ['model'],
} as const;

export function openAiEmbeddingsRequest(conf: OpenAiEmbeddingsConf, embeddings: JsonObject): OutboundRequest {
  const headers: Record<string, string> = conf.api_key === undefined ? {} : { authorization: `Bearer ${conf.api_key}` };
  return { url: conf.endpoint, headers, json: { ...embeddings, model: conf.model } };
}
