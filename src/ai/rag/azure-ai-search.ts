// ai-rag's `vector_search_provider.azure_ai_search` (APISIX's): one vector query on the
// fields the client names (`ai_rag.vector_search.fields`), the key in the `api-key` header.
import type { OutboundRequest } from './provider.js';

export interface AzureAiSearchConf {
  /** The index's search URL (`…/indexes/<index>/docs/search?api-version=…`). */
  endpoint: string;
  api_key: string;
}

export const AZURE_AI_SEARCH_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    endpoint: { type: 'string', pattern: '^https?://', maxLength: 2048 },
    api_key: { type: 'string', minLength: 1, maxLength: 4096, encrypted: true },
  },
  required: ['endpoint', 'api_key'],
} as const;

export function azureAiSearchRequest(conf: AzureAiSearchConf, vector: number[], fields: string): OutboundRequest {
  return {
    url: conf.endpoint,
    headers: { 'api-key': conf.api_key },
    json: { vectorQueries: [{ kind: 'vector', vector, fields }] },
  };
}
