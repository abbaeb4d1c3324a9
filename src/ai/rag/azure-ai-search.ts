// ai-rag's `vector_search_provider.azure_ai_search` (APISIX's): one vector query on the
// fields the client names (`ai_rag.vector_search.fields`), the key in the `api-key` header.
// `endpoint` is the index's search URL (`…/indexes/<index>/docs/search?api-version=…`).
import type { AzureServiceConf, OutboundRequest } from './provider.js';

export function azureAiSearchRequest(conf: AzureServiceConf, vector: number[], fields: string): OutboundRequest {
  return {
    url: conf.endpoint,
    headers: { 'api-key': conf.api_key },
    json: { vectorQueries: [{ kind: 'vector', vector, fields }] },
  };
}
