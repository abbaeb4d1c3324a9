// ai-rag's `embeddings_provider.azure_openai` (APISIX's): the client's `ai_rag.embeddings`
// object is the request body, the key goes in Azure's `api-key` header.
import type { JsonObject } from '../json-body.js';
import type { OutboundRequest } from './provider.js';

export interface AzureOpenAiEmbeddingsConf {
  /** The deployment's embeddings URL, with its `api-version` query. */
  endpoint: string;
  api_key: string;
}

export const AZURE_OPENAI_EMBEDDINGS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    endpoint: { type: 'string', pattern: '^https?://', maxLength: 2048 },
    api_key: { type: 'string', minLength: 1, maxLength: 4096, encrypted: true },
  },
  required: ['endpoint', 'api_key'],
} as const;

export function azureOpenAiEmbeddingsRequest(conf: AzureOpenAiEmbeddingsConf, embeddings: JsonObject): OutboundRequest {
  return { url: conf.endpoint, headers: { 'api-key': conf.api_key }, json: embeddings };
}
