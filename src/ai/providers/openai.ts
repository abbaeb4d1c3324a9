// OpenAI itself: chat completions and embeddings on api.openai.com.
import { openAiCompatibleAdapter } from '../proxy/provider.js';

export default openAiCompatibleAdapter('openai', 'https://api.openai.com',
  { 'openai-chat': '/v1/chat/completions', 'openai-embeddings': '/v1/embeddings' });
