// Azure OpenAI: every deployment has its own URL (resource host, deployment path,
// `api-version` query), so `override.endpoint` is required; Azure authenticates with an
// `api-key` header (`auth.header: {"api-key": "..."}`), as APISIX documents it.
import { openAiCompatibleAdapter } from '../proxy/provider.js';

export default openAiCompatibleAdapter('azure-openai', undefined,
  { 'openai-chat': '/v1/chat/completions', 'openai-embeddings': '/v1/embeddings' });
