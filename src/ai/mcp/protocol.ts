// JSON-RPC 2.0 as MCP uses it: a POST body is one message or a batch (revision 2025-03-26;
// 2025-06-18 dropped batches, a client of it just never sends one). Requests get a
// response each; notifications and client responses get none. The server offers tools
// only: initialize, ping, tools/list and tools/call; anything else is -32601.

export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;
export const INTERNAL_ERROR = -32603;

/** Newest first: the answer to a version the server does not know is the first. */
export const PROTOCOL_VERSIONS = ['2025-06-18', '2025-03-26', '2024-11-05'];

export type JsonRpcId = string | number;

export type JsonRpcMessage =
  | { kind: 'request'; id: JsonRpcId; method: string; params: Record<string, unknown> | undefined }
  | { kind: 'notification'; method: string }
  | { kind: 'response' };

export interface JsonRpcResponse {
  jsonrpc: '2.0';
  id: JsonRpcId | null;
  result?: unknown;
  error?: { code: number; message: string };
}

export const rpcError = (id: JsonRpcId | null, code: number, message: string): JsonRpcResponse =>
  ({ jsonrpc: '2.0', id, error: { code, message } });

export const rpcResult = (id: JsonRpcId, result: unknown): JsonRpcResponse => ({ jsonrpc: '2.0', id, result });

function isId(v: unknown): v is JsonRpcId {
  return typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v));
}

/** One message checked; an invalid one is the -32600 response to send for it. */
export function checkMessage(m: unknown): JsonRpcMessage | JsonRpcResponse {
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return rpcError(null, INVALID_REQUEST, 'a JSON-RPC message must be an object');
  const msg = m as Record<string, unknown>;
  const id = isId(msg.id) ? msg.id : null;
  if (msg.jsonrpc !== '2.0') return rpcError(id, INVALID_REQUEST, 'jsonrpc must be "2.0"');
  if (typeof msg.method === 'string') {
    if (msg.params !== undefined && (msg.params === null || typeof msg.params !== 'object' || Array.isArray(msg.params))) {
      return rpcError(id, INVALID_REQUEST, 'params must be an object');
    }
    const params = msg.params as Record<string, unknown> | undefined;
    if (msg.id === undefined) return { kind: 'notification', method: msg.method };
    if (!isId(msg.id)) return rpcError(null, INVALID_REQUEST, 'id must be a string or an integer');
    return { kind: 'request', id: msg.id, method: msg.method, params };
  }
  if (isId(msg.id) && ('result' in msg || 'error' in msg)) return { kind: 'response' };
  return rpcError(id, INVALID_REQUEST, 'a message needs a method (a request or notification) or a result or error (a response)');
}

/** The version to answer `initialize` with: the client's when known here, else the newest. */
export function negotiateVersion(requested: unknown): string {
  return typeof requested === 'string' && PROTOCOL_VERSIONS.includes(requested) ? requested : PROTOCOL_VERSIONS[0]!;
}
