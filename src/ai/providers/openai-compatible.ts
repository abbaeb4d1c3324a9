// Any server that speaks OpenAI's wire format (vLLM, LocalAI, LM Studio, a company proxy):
// there is no default host, so `override.endpoint` is required; an endpoint without a path
// gets OpenAI's paths.
import { openAiCompatibleAdapter } from '../proxy/provider.js';

export default openAiCompatibleAdapter('openai-compatible', undefined,
  { 'openai-chat': '/v1/chat/completions', 'openai-embeddings': '/v1/embeddings' });
