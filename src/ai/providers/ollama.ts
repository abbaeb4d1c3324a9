// Ollama's OpenAI-compatible API on a local server (its default port); another host or port
// goes in `override.endpoint`. It needs no authentication, but `auth` is still sent when given.
import { openAiCompatibleAdapter } from '../proxy/provider.js';

export default openAiCompatibleAdapter('ollama', 'http://127.0.0.1:11434',
  { 'openai-chat': '/v1/chat/completions', 'openai-embeddings': '/v1/embeddings' });
