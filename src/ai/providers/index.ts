// The provider adapters by `provider` name. Adding a provider is one file here and one line below.
import type { ProviderAdapter } from '../proxy/provider.js';
import anthropic from './anthropic.js';
import azureOpenai from './azure-openai.js';
import deepseek from './deepseek.js';
import ollama from './ollama.js';
import openai from './openai.js';
import openaiCompatible from './openai-compatible.js';
import qwen from './qwen.js';

const ADAPTERS: ReadonlyMap<string, ProviderAdapter> = new Map(
  [openai, deepseek, azureOpenai, openaiCompatible, qwen, ollama, anthropic].map((a) => [a.name, a]));

/** Providers APISIX has that no adapter here implements yet: refused with a message saying so. */
export const UNBUILT_PROVIDERS: readonly string[] = ['aimlapi', 'openrouter', 'gemini', 'vertex-ai', 'bedrock'];

export const PROVIDER_NAMES: readonly string[] = [...ADAPTERS.keys()];

export function providerAdapter(name: string): ProviderAdapter | undefined {
  return ADAPTERS.get(name);
}
