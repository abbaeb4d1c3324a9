// Alibaba Cloud's Qwen models through DashScope's OpenAI-compatible mode (its native API
// has another format; the compatible mode takes OpenAI's chat and embeddings requests).
import { openAiCompatibleAdapter } from '../proxy/provider.js';

export default openAiCompatibleAdapter('qwen', 'https://dashscope.aliyuncs.com',
  { 'openai-chat': '/compatible-mode/v1/chat/completions', 'openai-embeddings': '/compatible-mode/v1/embeddings' });
