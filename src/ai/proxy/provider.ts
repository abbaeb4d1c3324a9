// What the gateway knows of a model provider: where its APIs live and how a request in the
// protocol a client spoke becomes one the provider understands. One adapter per provider
// (src/ai/providers/); the plugins that proxy to providers (ai-proxy, later ai-proxy-multi)
// only talk to this interface, so a provider with its own wire format (Anthropic's messages
// API) is one more adapter with conversion hooks, not a change to the plugins.
import type { JsonObject } from '../protocol/json-body.js';

/**
 * The protocols a client may speak to the gateway (APISIX's detection, first match wins):
 * OpenAI chat completions (`messages`), OpenAI embeddings (`input`), and passthrough (any
 * other JSON object, sent to the client's own path on the provider's host).
 */
export type AiProtocol = 'openai-chat' | 'openai-embeddings' | 'passthrough';
export const AI_PROTOCOLS: readonly AiProtocol[] = ['openai-chat', 'openai-embeddings', 'passthrough'];

/**
 * Turns the provider's response body (plain or an event stream) into the client's protocol,
 * chunk by chunk; `eof` marks the last call. Adapters whose wire format is the client's
 * have none.
 */
export type ResponseConverter = (chunk: Buffer, eof: boolean) => Buffer;

export interface ProviderAdapter {
  /** The `provider` value that selects this adapter. */
  readonly name: string;
  /** Where its API lives by default (`https://api.openai.com`); undefined: `override.endpoint` is required. */
  readonly origin: string | undefined;
  /**
   * The path per protocol the provider serves (a protocol missing here is refused for it);
   * `passthrough` has none: it goes to the client's own path.
   */
  readonly paths: Partial<Record<Exclude<AiProtocol, 'passthrough'>, string>>;
  /** Headers sent unless the client or `auth.header` gives them (Anthropic's `anthropic-version`). */
  readonly defaultHeaders?: Readonly<Record<string, string>>;
  /**
   * Rewrites the (already overwritten) client body into the provider's request body. Absent:
   * sent as is. Throws UnconvertibleRequest for a request it cannot express (answered 400).
   */
  convertRequest?(body: JsonObject, protocol: AiProtocol): JsonObject;
  /** A converter for one response to a `protocol` request, by its Content-Type. Absent or undefined: relayed as is. */
  responseConverter?(protocol: AiProtocol, contentType: string | undefined): ResponseConverter | undefined;
}

/** A client request the provider's format cannot express: its message is the 400 the client gets. */
export class UnconvertibleRequest extends Error {}

/** The protocols `adapter` serves. */
export function protocolsOf(adapter: ProviderAdapter): AiProtocol[] {
  return [...Object.keys(adapter.paths) as AiProtocol[], 'passthrough'];
}

/** An adapter for a provider that speaks OpenAI's wire format: its requests and responses go through unchanged. */
export function openAiCompatibleAdapter(name: string, origin: string | undefined,
  paths: ProviderAdapter['paths']): ProviderAdapter {
  return { name, origin, paths };
}
