// MCP's Streamable HTTP transport on one route (spec revisions 2025-03-26 and 2025-06-18):
// POST carries JSON-RPC messages and is answered with `application/json` (the spec lets the
// server choose JSON over an SSE stream; every answer here is one JSON document), GET is 405
// (no server-initiated stream is offered), DELETE ends the session. The tools are REST
// calls the gateway makes itself (tools.ts), bounded in time and in the size read.
import type { PhaseResult, PluginContext } from '../../contracts/plugin.js';
import { VERSION } from '../../core/version.js';
import { callService, ServiceCallError, type ServiceConnections } from '../outbound/service-call.js';
import {
  checkMessage, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, negotiateVersion, PARSE_ERROR, PROTOCOL_VERSIONS,
  rpcError, rpcResult, type JsonRpcMessage, type JsonRpcResponse,
} from './protocol.js';
import type { McpSessions } from './sessions.js';
import { buildToolRequest, checkArguments, renderToolAnswer, type PreparedTool } from './tools.js';

export interface McpServer {
  name: string;
  config: Record<string, unknown>;
  /** The tools clients may list and call (allowTools applied). */
  tools: ReadonlyMap<string, PreparedTool>;
  /** Origins besides the request's own that may call (`*`: any); undefined: only its own. */
  allowOrigins: readonly string[] | undefined;
  connections: ServiceConnections;
  timeoutMs: number;
  maxReplyBytes: number;
}

/** How a tools/call ended: `ok`, `http_error` (a non-2xx answer), `unreachable`, `timeout`, `bad_answer`, `invalid_arguments`. */
export type ToolOutcome = 'ok' | 'http_error' | 'unreachable' | 'timeout' | 'bad_answer' | 'invalid_arguments';

export interface McpObserver {
  toolCalled(ctx: PluginContext, tool: string, outcome: ToolOutcome): void;
}

/** The most characters of a failed REST answer quoted in the tool's error text. */
const MAX_ERROR_TEXT = 1000;
const JSON_HEADERS = { 'content-type': 'application/json' };

const httpError = (status: number, code: number, message: string, headers: Record<string, string> = {}): PhaseResult =>
  ({ status, body: rpcError(null, code, message), headers: { ...JSON_HEADERS, ...headers } });

function originAllowed(ctx: PluginContext, allow: readonly string[] | undefined): boolean {
  const origin = ctx.request.header('origin');
  if (origin === undefined) return true; // not a browser: nothing to check
  if (allow !== undefined) return allow.includes('*') || allow.includes(origin);
  try {
    return new URL(origin).host === ctx.request.header('host');
  } catch {
    return false;
  }
}

function acceptsJson(accept: string | undefined): boolean {
  return accept === undefined || /(^|[,\s])(application\/json|application\/\*|\*\/\*)(\s*;|\s*,|\s*$)/i.test(accept);
}

export async function handleMcpRequest(ctx: PluginContext, server: McpServer, sessions: McpSessions,
  observer: McpObserver): Promise<PhaseResult> {
  // a browser page of another site must not drive the tools with the user's credentials
  if (!originAllowed(ctx, server.allowOrigins)) return httpError(403, INVALID_REQUEST, 'Forbidden: Origin not allowed');
  const routeId = ctx.routeId ?? '';
  const method = ctx.request.method;
  if (method === 'DELETE') {
    const id = ctx.request.header('mcp-session-id');
    if (id === undefined) return httpError(400, -32000, 'Bad Request: Mcp-Session-Id header is required');
    if (!await sessions.end(routeId, id)) return httpError(404, -32001, 'Session not found');
    return { status: 200, body: '' };
  }
  if (method !== 'POST') return httpError(405, -32000, 'Method not allowed: this server offers no stream on GET', { allow: 'POST, DELETE' });
  const type = (ctx.request.header('content-type') ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (type !== 'application/json') return httpError(415, -32000, 'Unsupported Media Type: Content-Type must be application/json');
  if (!acceptsJson(ctx.request.header('accept'))) return httpError(406, -32000, 'Not Acceptable: the client must accept application/json');

  // MCP bodies are JSON-RPC (a batch is an array), not the chat objects src/ai/json-body.ts shares
  let parsed: unknown;
  try {
    parsed = JSON.parse((await ctx.request.body()).toString('utf8'));
  } catch (err) {
    return httpError(400, PARSE_ERROR, `Parse error: ${(err as Error).message}`);
  }
  const batch = Array.isArray(parsed);
  const raw = batch ? parsed as unknown[] : [parsed];
  if (raw.length === 0) return httpError(400, INVALID_REQUEST, 'Invalid Request: empty batch');
  const messages = raw.map(checkMessage);
  const initialize = messages.some((m) => 'kind' in m && m.kind === 'request' && m.method === 'initialize');
  if (initialize && messages.length > 1) return httpError(400, INVALID_REQUEST, 'Invalid Request: initialize must be sent alone');

  let sessionId: string | undefined;
  if (initialize) {
    sessionId = await sessions.open(routeId);
  } else {
    const version = ctx.request.header('mcp-protocol-version');
    if (version !== undefined && !PROTOCOL_VERSIONS.includes(version)) {
      return httpError(400, -32000, `Bad Request: unsupported MCP-Protocol-Version ${version} (supported: ${PROTOCOL_VERSIONS.join(', ')})`);
    }
    const id = ctx.request.header('mcp-session-id');
    if (id === undefined) return httpError(400, -32000, 'Bad Request: Mcp-Session-Id header is required');
    if (!await sessions.touch(routeId, id)) return httpError(404, -32001, 'Session not found');
  }

  const answers: JsonRpcResponse[] = [];
  const methods: string[] = [];
  for (const m of messages) {
    if (!('kind' in m)) answers.push(m);
    else if (m.kind === 'request') {
      methods.push(m.method);
      answers.push(await answerRequest(ctx, server, observer, m));
    } else if (m.kind === 'notification') methods.push(m.method);
  }
  ctx.setVar('mcp_server_method', methods.join(','));
  const headers: Record<string, string> = sessionId === undefined ? {} : { 'mcp-session-id': sessionId };
  if (answers.length === 0) return { status: 202, body: '', headers };
  return { status: 200, body: batch ? answers : answers[0], headers: { ...JSON_HEADERS, ...headers } };
}

async function answerRequest(ctx: PluginContext, server: McpServer, observer: McpObserver,
  m: Extract<JsonRpcMessage, { kind: 'request' }>): Promise<JsonRpcResponse> {
  switch (m.method) {
    case 'initialize':
      return rpcResult(m.id, {
        protocolVersion: negotiateVersion(m.params?.protocolVersion),
        capabilities: { tools: { listChanged: false } },
        serverInfo: { name: server.name, version: VERSION },
      });
    case 'ping':
      return rpcResult(m.id, {});
    case 'tools/list':
      return rpcResult(m.id, { tools: [...server.tools.values()].map((t) => ({ name: t.name, description: t.description, inputSchema: t.inputSchema })) });
    case 'tools/call':
      return callTool(ctx, server, observer, m.id, m.params);
    default:
      return rpcError(m.id, METHOD_NOT_FOUND, `Method not found: ${m.method}`);
  }
}

async function callTool(ctx: PluginContext, server: McpServer, observer: McpObserver, id: string | number,
  params: Record<string, unknown> | undefined): Promise<JsonRpcResponse> {
  const name = params?.name;
  if (typeof name !== 'string') return rpcError(id, INVALID_PARAMS, 'Invalid params: name must be a string');
  const tool = server.tools.get(name);
  if (tool === undefined) return rpcError(id, INVALID_PARAMS, `Unknown tool: ${name}`);
  ctx.setVar('mcp_server_tool', name);
  const args = checkArguments(tool, params!.arguments);
  if (!args.ok) {
    observer.toolCalled(ctx, name, 'invalid_arguments');
    return rpcError(id, INVALID_PARAMS, `Invalid params: ${args.message}`);
  }
  const request = buildToolRequest(tool, args.args, server.config);
  const toolError = (outcome: ToolOutcome, text: string): JsonRpcResponse => {
    observer.toolCalled(ctx, name, outcome);
    return rpcResult(id, { content: [{ type: 'text', text }], isError: true });
  };
  try {
    const reply = await callService(ctx, request, { connections: server.connections, timeout: server.timeoutMs, maxReplyBytes: server.maxReplyBytes });
    const body = reply.body.toString('utf8');
    if (reply.status < 200 || reply.status > 299) return toolError('http_error', `The REST API answered ${reply.status}: ${body.slice(0, MAX_ERROR_TEXT)}`);
    const text = renderToolAnswer(tool, body);
    if (!text.ok) return toolError('bad_answer', text.message);
    observer.toolCalled(ctx, name, 'ok');
    return rpcResult(id, { content: [{ type: 'text', text: text.text }], isError: false });
  } catch (err) {
    if (!(err instanceof ServiceCallError)) throw err;
    ctx.log.warn(`mcp-server: tool ${name}: ${request.method} ${new URL(request.url).origin} failed: ${err.message}`);
    return toolError(err.kind === 'timeout' ? 'timeout' : 'unreachable', `The REST API did not answer: ${err.message}`);
  }
}
