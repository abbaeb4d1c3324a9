// DeepSeek speaks OpenAI's chat format at the root of its API host (no /v1) and has no embeddings API.
import { openAiCompatibleAdapter } from '../proxy/provider.js';

export default openAiCompatibleAdapter('deepseek', 'https://api.deepseek.com', { 'openai-chat': '/chat/completions' });
