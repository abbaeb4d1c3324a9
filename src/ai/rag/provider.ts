// What ai-rag's providers share: the outbound request each one builds, and the vector an
// OpenAI-shaped embeddings reply carries (Azure OpenAI and OpenAI answer alike).
import type { JsonObject } from '../protocol/json-body.js';

export interface OutboundRequest {
  url: string;
  headers: Record<string, string>;
  json: JsonObject;
}

/** An Azure service's connection (`endpoint`, and the `api-key` header's value), as APISIX's Azure providers take it. */
export interface AzureServiceConf {
  endpoint: string;
  api_key: string;
}

export const AZURE_SERVICE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    endpoint: { type: 'string', pattern: '^https?://', maxLength: 2048 },
    api_key: { type: 'string', minLength: 1, maxLength: 4096, encrypted: true },
  },
  required: ['endpoint', 'api_key'],
} as const;

/** `data[0].embedding` of an embeddings reply, when it is a non-empty array of numbers. */
export function embeddingFromReply(body: Buffer): number[] | undefined {
  let reply: unknown;
  try { reply = JSON.parse(body.toString('utf8')); } catch { return undefined; }
  const data = (reply as JsonObject | null)?.data;
  const first = Array.isArray(data) ? (data[0] as JsonObject | undefined) : undefined;
  const vector = first !== null && typeof first === 'object' ? first.embedding : undefined;
  if (!Array.isArray(vector) || vector.length === 0 || !vector.every((x) => typeof x === 'number')) return undefined;
  return vector as number[];
}
