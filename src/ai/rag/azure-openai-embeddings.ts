// ai-rag's `embeddings_provider.azure_openai` (APISIX's): the client's `ai_rag.embeddings`
// object is the request body, the key goes in Azure's `api-key` header. `endpoint` is the
// deployment's embeddings URL, with its `api-version` query.
import type { JsonObject } from '../protocol/json-body.js';
import type { AzureServiceConf, OutboundRequest } from './provider.js';

export function azureOpenAiEmbeddingsRequest(conf: AzureServiceConf, embeddings: JsonObject): OutboundRequest {
  return { url: conf.endpoint, headers: { 'api-key': conf.api_key }, json: embeddings };
}
