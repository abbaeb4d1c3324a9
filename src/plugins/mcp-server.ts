// mcp-server: Higress's REST-to-MCP server. The route becomes a Model Context Protocol
// server over Streamable HTTP whose tools are configured REST calls; the plugin answers
// every request itself (like mocking), so the route needs no upstream. It sits at the very
// end of the default stage (priority 5: Higress's is 30, but here key-rate-limit (10) and
// cluster-key-rate-limit (20) sit below 30): every auth, limit and AI plugin of the route
// has run before an MCP message is read. The work is in src/ai/mcp/.
import type { Counter } from 'prom-client';
import { registerVariable } from '../core/expr/index.js';
import { counter } from '../observability/metrics.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { pluginNodeLimits } from '../plugin-runtime/node-limits.js';
import { handleMcpRequest, type McpServer, type ToolOutcome } from '../ai/mcp/server.js';
import { McpSessions } from '../ai/mcp/sessions.js';
import { prepareTool, type PreparedTool, type ToolConf } from '../ai/mcp/tools.js';
import { poolFor } from './common/http-client.js';

export interface McpServerConf {
  server: { name: string; config?: Record<string, unknown>; allowTools?: string[]; securitySchemes?: unknown };
  tools: (ToolConf & { errorResponseTemplate?: unknown; requestTemplate: { security?: unknown } })[];
  allowTools?: string[];
  allow_origins?: string[];
  timeout: number;
}

const CONNECTIONS = { ssl_verify: true, keepalive: true, keepalive_timeout: 60_000, keepalive_pool: 5 };

registerVariable('mcp_server_method');
registerVariable('mcp_server_tool');

let calls: Counter<'route' | 'tool' | 'outcome'> | undefined;
const observer = {
  toolCalled(ctx: { routeId: string | undefined }, tool: string, outcome: ToolOutcome): void {
    calls ??= counter('gatehouse_mcp_server_calls_total', 'MCP tools/call requests mcp-server handled, by route, tool and outcome', ['route', 'tool', 'outcome']);
    calls.inc({ route: ctx.routeId ?? '', tool, outcome });
  },
};

let sessions: McpSessions | undefined;

const STRING_LIST = { type: 'array', items: { type: 'string', minLength: 1 } };
const ARG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1 },
    description: { type: 'string' },
    type: { enum: ['string', 'number', 'integer', 'boolean', 'array', 'object'], default: 'string' },
    required: { type: 'boolean', default: false },
    default: {},
    enum: { type: 'array', minItems: 1 },
    items: { type: 'object' },
    properties: { type: 'object' },
    position: { enum: ['query', 'path', 'header', 'cookie', 'body'] },
  },
  required: ['name', 'description'],
};
const TOOL_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    // the MCP spec's tool name characters
    name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,128}$' },
    description: { type: 'string', minLength: 1 },
    args: { type: 'array', items: ARG_SCHEMA, default: [] },
    requestTemplate: {
      type: 'object',
      additionalProperties: false,
      properties: {
        url: { type: 'string', minLength: 1 },
        method: { enum: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] },
        headers: { type: 'array', items: { type: 'object', additionalProperties: false,
          properties: { key: { type: 'string', pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" }, value: { type: 'string' } }, required: ['key', 'value'] } },
        body: { type: 'string' },
        argsToJsonBody: { type: 'boolean', default: false },
        argsToUrlParam: { type: 'boolean', default: false },
        argsToFormBody: { type: 'boolean', default: false },
        security: {},
      },
      required: ['url', 'method'],
    },
    responseTemplate: {
      type: 'object',
      additionalProperties: false,
      properties: { body: { type: 'string' }, prependBody: { type: 'string' }, appendBody: { type: 'string' } },
    },
    errorResponseTemplate: {},
  },
  required: ['name', 'description', 'requestTemplate'],
};

export default definePlugin<McpServerConf, McpServer>({
  name: 'mcp-server',
  description: 'Serves configured REST APIs as Model Context Protocol tools over Streamable HTTP, behind the route\'s auth plugins.',
  version: '0.1',
  stage: 'default',
  priority: 5,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      server: {
        type: 'object',
        additionalProperties: false,
        properties: {
          name: { type: 'string', minLength: 1 },
          config: { type: 'object', default: {} },
          allowTools: STRING_LIST,
          securitySchemes: {},
        },
        required: ['name'],
      },
      tools: { type: 'array', minItems: 1, items: TOOL_SCHEMA },
      allowTools: STRING_LIST,
      allow_origins: STRING_LIST,
      timeout: { type: 'integer', minimum: 1, maximum: 60_000, default: 10_000 },
    },
    required: ['server', 'tools'],
  },

  prepare(conf) {
    if (conf.server.securitySchemes !== undefined) throw new Error('server.securitySchemes: not supported here (put the credentials in requestTemplate.headers, from server.config)');
    const tools = new Map<string, PreparedTool>();
    for (const [i, tool] of conf.tools.entries()) {
      if (tool.requestTemplate.security !== undefined) throw new Error(`tools[${i}].requestTemplate.security: not supported here (use requestTemplate.headers)`);
      if (tool.errorResponseTemplate !== undefined) throw new Error(`tools[${i}].errorResponseTemplate: not supported here (a non-2xx answer is the tool error "The REST API answered <status>: <body>")`);
      if (tools.has(tool.name)) throw new Error(`tools[${i}].name: "${tool.name}" appears twice`);
      tools.set(tool.name, prepareTool(tool, i));
    }
    for (const field of ['allowTools', 'server.allowTools'] as const) {
      const list = field === 'allowTools' ? conf.allowTools : conf.server.allowTools;
      const unknown = list?.find((n) => !tools.has(n));
      if (unknown !== undefined) throw new Error(`${field}: "${unknown}" is not one of the tools`);
    }
    const allowed = conf.allowTools ?? conf.server.allowTools;
    if (conf.allowTools !== undefined && conf.server.allowTools !== undefined) throw new Error('allowTools: give it once, here or in server.allowTools');
    return {
      name: conf.server.name,
      config: conf.server.config ?? {},
      tools: allowed === undefined ? tools : new Map([...tools].filter(([name]) => allowed.includes(name))),
      allowOrigins: conf.allow_origins,
      connections: poolFor(CONNECTIONS),
      timeoutMs: conf.timeout ?? 10_000,
      maxReplyBytes: pluginNodeLimits().maxBufferedBodySize,
    };
  },

  access(server, ctx) {
    return handleMcpRequest(ctx, server, sessions ??= new McpSessions(), observer);
  },
});
