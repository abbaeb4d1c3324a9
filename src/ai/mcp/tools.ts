// Higress's REST-to-MCP tools: each tool is one HTTP request built from the tool's
// arguments (`args[].position`, or the bulk modes argsToJsonBody / argsToUrlParam /
// argsToFormBody, or a `body` template) and one answer turned into the tool's text
// (`responseTemplate`). Everything is checked and compiled once per config; a call only
// validates the arguments and fills the templates.
import { compileTemplate, renderTemplate, valueText, type CompiledTemplate } from './template.js';

export type ArgType = 'string' | 'number' | 'integer' | 'boolean' | 'array' | 'object';
export type ArgPosition = 'query' | 'path' | 'header' | 'cookie' | 'body';
export type ToolMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

export interface ToolArgConf {
  name: string;
  description: string;
  type?: ArgType;
  required?: boolean;
  default?: unknown;
  enum?: unknown[];
  items?: Record<string, unknown>;
  properties?: Record<string, unknown>;
  position?: ArgPosition;
}

export interface ToolConf {
  name: string;
  description: string;
  args?: ToolArgConf[];
  requestTemplate: {
    url: string;
    method: ToolMethod;
    headers?: { key: string; value: string }[];
    body?: string;
    argsToJsonBody?: boolean;
    argsToUrlParam?: boolean;
    argsToFormBody?: boolean;
  };
  responseTemplate?: { body?: string; prependBody?: string; appendBody?: string };
}

export interface PreparedTool {
  name: string;
  description: string;
  /** What tools/list shows: a JSON Schema object of the arguments. */
  inputSchema: Record<string, unknown>;
  args: ToolArgConf[];
  method: ToolMethod;
  url: CompiledTemplate;
  headers: { key: string; value: CompiledTemplate }[];
  body: CompiledTemplate | undefined;
  bulk: 'json' | 'query' | 'form' | undefined;
  response: { body?: CompiledTemplate; prepend: string; append: string };
}

export interface ToolRequest {
  method: ToolMethod;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

const REQUEST_ROOTS = ['args', 'config'];

export function prepareTool(tool: ToolConf, index: number): PreparedTool {
  const at = `tools[${index}]`;
  const rt = tool.requestTemplate;
  const bulkModes = [rt.body !== undefined, rt.argsToJsonBody === true, rt.argsToUrlParam === true, rt.argsToFormBody === true];
  if (bulkModes.filter(Boolean).length > 1) {
    throw new Error(`${at}.requestTemplate: body, argsToJsonBody, argsToUrlParam and argsToFormBody exclude each other`);
  }
  const url = compileTemplate(rt.url, `${at}.requestTemplate.url`, REQUEST_ROOTS);
  // the scheme and host are the template's own text, never an argument's
  if (!/^https?:\/\/[^/{}?#]+(?:[/?#]|$)/i.test(rt.url)) {
    throw new Error(`${at}.requestTemplate.url: must start with http:// or https:// and a host written out (the gateway calls it)`);
  }
  const args = tool.args ?? [];
  const seen = new Set<string>();
  for (const [i, arg] of args.entries()) {
    if (seen.has(arg.name)) throw new Error(`${at}.args[${i}].name: "${arg.name}" appears twice`);
    seen.add(arg.name);
    if (arg.position === 'path' && !rt.url.includes(`{${arg.name}}`)) {
      throw new Error(`${at}.args[${i}].position: path, but requestTemplate.url has no {${arg.name}}`);
    }
  }
  const rtp = tool.responseTemplate ?? {};
  if (rtp.body !== undefined && (rtp.prependBody !== undefined || rtp.appendBody !== undefined)) {
    throw new Error(`${at}.responseTemplate: body excludes prependBody and appendBody`);
  }
  return {
    name: tool.name,
    description: tool.description,
    inputSchema: inputSchema(args),
    args,
    method: rt.method,
    url,
    headers: (rt.headers ?? []).map((h, i) => ({ key: h.key, value: compileTemplate(h.value, `${at}.requestTemplate.headers[${i}].value`, REQUEST_ROOTS) })),
    body: rt.body === undefined ? undefined : compileTemplate(rt.body, `${at}.requestTemplate.body`, REQUEST_ROOTS),
    bulk: rt.argsToJsonBody === true ? 'json' : rt.argsToUrlParam === true ? 'query' : rt.argsToFormBody === true ? 'form' : undefined,
    response: {
      body: rtp.body === undefined ? undefined : compileTemplate(rtp.body, `${at}.responseTemplate.body`),
      prepend: rtp.prependBody ?? '',
      append: rtp.appendBody ?? '',
    },
  };
}

function inputSchema(args: readonly ToolArgConf[]): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const a of args) {
    const p: Record<string, unknown> = { type: a.type ?? 'string', description: a.description };
    for (const k of ['default', 'enum', 'items', 'properties'] as const) if (a[k] !== undefined) p[k] = a[k];
    properties[a.name] = p;
  }
  const required = args.filter((a) => a.required === true).map((a) => a.name);
  return { type: 'object', properties, ...(required.length > 0 ? { required } : {}) };
}

function typeMatches(value: unknown, type: ArgType): boolean {
  switch (type) {
    case 'string': return typeof value === 'string';
    case 'number': return typeof value === 'number' && Number.isFinite(value);
    case 'integer': return Number.isInteger(value);
    case 'boolean': return typeof value === 'boolean';
    case 'array': return Array.isArray(value);
    case 'object': return value !== null && typeof value === 'object' && !Array.isArray(value);
  }
}

/** The call's arguments with defaults filled in, or the reason they are invalid (a JSON-RPC -32602). */
export function checkArguments(tool: PreparedTool, given: unknown): { ok: true; args: Record<string, unknown> } | { ok: false; message: string } {
  if (given !== undefined && (given === null || typeof given !== 'object' || Array.isArray(given))) {
    return { ok: false, message: 'arguments must be an object' };
  }
  const args: Record<string, unknown> = { ...(given as Record<string, unknown> | undefined) };
  for (const a of tool.args) {
    if (args[a.name] === undefined && a.default !== undefined) args[a.name] = a.default;
    const value = args[a.name];
    if (value === undefined) {
      if (a.required === true) return { ok: false, message: `argument ${a.name} is required` };
      continue;
    }
    if (!typeMatches(value, a.type ?? 'string')) return { ok: false, message: `argument ${a.name} must be of type ${a.type ?? 'string'}` };
    if (a.enum !== undefined && !a.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
      return { ok: false, message: `argument ${a.name} must be one of ${JSON.stringify(a.enum)}` };
    }
  }
  return { ok: true, args };
}

const escapeUrlValue = (value: string, root: string | undefined): string => (root === 'args' ? encodeURIComponent(value) : value);

/** The HTTP request of one call; `args` as checkArguments returned them. */
export function buildToolRequest(tool: PreparedTool, args: Record<string, unknown>, config: Record<string, unknown>): ToolRequest {
  const data = { args, config };
  let url = renderTemplate(tool.url, data, escapeUrlValue);
  const headers: Record<string, string> = {};
  for (const h of tool.headers) headers[h.key.toLowerCase()] = renderTemplate(h.value, data);
  const query: [string, string][] = [];
  const cookies: string[] = [];
  const bodyFields: Record<string, unknown> = {};
  const positioned = new Set<string>();
  for (const a of tool.args) {
    if (a.position === undefined) continue;
    positioned.add(a.name);
    const value = args[a.name];
    if (value === undefined) continue;
    const text = valueText(value);
    if (a.position === 'query') query.push([a.name, text]);
    else if (a.position === 'path') url = url.replaceAll(`{${a.name}}`, encodeURIComponent(text));
    else if (a.position === 'header') headers[a.name.toLowerCase()] = text;
    else if (a.position === 'cookie') cookies.push(`${a.name}=${encodeURIComponent(text)}`);
    else bodyFields[a.name] = value;
  }
  for (const [name, value] of Object.entries(args)) {
    if (positioned.has(name) || value === undefined) continue;
    if (tool.bulk === 'query') query.push([name, valueText(value)]);
    else if (tool.bulk !== undefined) bodyFields[name] = value;
  }
  if (cookies.length > 0) headers.cookie = [headers.cookie, ...cookies].filter((c) => c !== undefined && c !== '').join('; ');
  if (query.length > 0) {
    const u = new URL(url);
    for (const [k, v] of query) u.searchParams.append(k, v);
    url = u.toString();
  }
  let body: string | undefined;
  if (tool.body !== undefined) {
    body = renderTemplate(tool.body, data);
  } else if (tool.bulk === 'form') {
    body = new URLSearchParams(Object.entries(bodyFields).map(([k, v]) => [k, valueText(v)])).toString();
    headers['content-type'] ??= 'application/x-www-form-urlencoded';
  } else if (Object.keys(bodyFields).length > 0) {
    body = JSON.stringify(bodyFields);
    headers['content-type'] ??= 'application/json; charset=utf-8';
  }
  return { method: tool.method, url, headers, ...(body === undefined ? {} : { body }) };
}

/** The tool's text from a 2xx answer: the body template over the answer's JSON, or the answer with prependBody/appendBody. */
export function renderToolAnswer(tool: PreparedTool, body: string): { ok: true; text: string } | { ok: false; message: string } {
  if (tool.response.body === undefined) return { ok: true, text: tool.response.prepend + body + tool.response.append };
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { ok: false, message: 'the REST answer is not JSON, which responseTemplate.body needs' };
  }
  return { ok: true, text: renderTemplate(tool.response.body, json) };
}
