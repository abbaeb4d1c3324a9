// ai-json: Higress's ai-json-resp. Sends the client's chat request to the configured model
// service itself, takes the JSON object out of the answer (from the first `{` to the last
// `}`), checks it against `jsonSchema`, and when it is missing or wrong asks again (the
// conversation so far, the error, and a request to convert the answer to JSON matching the
// schema), at most `maxRetry` more times. The client gets the JSON alone (200), or 500
// `{"Code","Msg"}` with Higress's codes. Requests carrying `X-HIGRESS-AI-JSON-RESP: true`
// (the plugin's own calls, when the service is this gateway) pass untouched.
//
// Gatehouse differences: config errors Higress answers on every request (1001, 1002, 1008)
// are refused when the config is written (400 naming the field); `stream` is sent false
// (the answer is read whole); the model's answers go back to it as `assistant` messages
// (Higress: `system`); the address fields map to a URL (src/ai/outbound/service-url.ts).
import type { PhaseResult, PluginContext } from '../contracts/plugin.js';
import type { ValidateFunction } from 'ajv';
import { registerVariable } from '../core/expr/index.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { counter } from '../observability/metrics.js';
import { readJsonBody, type JsonObject } from '../ai/protocol/json-body.js';
import { postChat, type ChatMessage, type LlmTarget } from '../ai/outbound/llm-client.js';
import { serviceFieldsAddress } from '../ai/outbound/service-url.js';
import { gjsonGet, gjsonString, parseGjsonPath, type GjsonPath } from '../ai/json-path/gjson-path.js';
import { answerSchemaError, compileAnswerSchema, jsonDepth } from '../ai/protocol/answer-schema.js';
import { setLoggedText } from './common/observe.js';

export interface AiJsonConf {
  serviceName?: string; serviceDomain?: string; servicePath?: string; serviceUrl?: string; servicePort?: number;
  serviceTimeout: number; apiKey?: string; maxRetry: number; contentPath: string;
  jsonSchema?: Record<string, unknown>; enableSwagger: boolean; enableOas3: boolean;
  jsonSchemaMaxDepth: number; rejectOnDepthExceeded: boolean; enableContentDisposition: boolean;
}

interface AiJsonPrepared {
  conf: AiJsonConf;
  content: GjsonPath;
  schemaText: string;
  validate: ValidateFunction | undefined;
}

const MARKER = 'x-higress-ai-json-resp';
// Not passed on to the model service: hop-by-hop, framing, the client's credentials (Higress drops them too).
const DROPPED = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'te', 'upgrade',
  'expect', 'authorization', 'accept-encoding', 'proxy-connection', 'content-type', 'accept']);

/** For access logs: Higress's error code (1003–1007) when the plugin answered 500; nil on success. */
registerVariable('ai_json_code');
/** For access logs: why the plugin answered 500 (its `Msg`), or 400 (a body that is no JSON object). */
registerVariable('ai_json_error');
/** For access logs: how many calls the plugin made to the model for the request. */
registerVariable('ai_json_calls');

let answers: ReturnType<typeof counter<'route' | 'code'>> | undefined;
let calls: ReturnType<typeof counter<'route'>> | undefined;

class Reject extends Error {
  constructor(readonly code: number, message: string) { super(message); }
}

export default definePlugin<AiJsonConf, AiJsonPrepared>({
  name: 'ai-json',
  description: 'Higress\'s ai-json-resp: asks the model until its answer is JSON valid against a schema, and returns that JSON.',
  version: '0.1',
  stage: 'default',
  priority: 150,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      serviceName: { type: 'string' },
      serviceDomain: { type: 'string' },
      servicePath: { type: 'string' },
      serviceUrl: { type: 'string' },
      servicePort: { type: 'integer', minimum: 1, maximum: 65535 },
      serviceTimeout: { type: 'integer', minimum: 1, default: 50000 },
      apiKey: { type: 'string' },
      maxRetry: { type: 'integer', minimum: 0, maximum: 10, default: 3 },
      contentPath: { type: 'string', minLength: 1, default: 'choices.0.message.content' },
      jsonSchema: { type: 'object' },
      enableSwagger: { type: 'boolean', default: false },
      enableOas3: { type: 'boolean', default: true },
      jsonSchemaMaxDepth: { type: 'integer', minimum: 1, default: 6 },
      rejectOnDepthExceeded: { type: 'boolean', default: false },
      enableContentDisposition: { type: 'boolean', default: true },
    },
  },

  prepare(conf) {
    serviceFieldsAddress(conf, '/v1/chat/completions'); // refuses a config with no address (Higress's 1008)
    const content = parseGjsonPath(conf.contentPath, 'contentPath');
    let validate: ValidateFunction | undefined;
    if (conf.jsonSchema !== undefined) {
      const depth = jsonDepth(conf.jsonSchema);
      if (depth > conf.jsonSchemaMaxDepth && conf.rejectOnDepthExceeded) {
        throw new Error(`jsonSchema: depth ${depth} exceeds jsonSchemaMaxDepth ${conf.jsonSchemaMaxDepth} (rejectOnDepthExceeded)`);
      }
      // Higress: enableOas3 (draft-07) wins over enableSwagger (draft-04) when both are set.
      const draft = conf.enableSwagger && !conf.enableOas3 ? 'draft-04' : 'draft-07';
      const compiled = compileAnswerSchema(conf.jsonSchema, draft, 'jsonSchema');
      if (depth <= conf.jsonSchemaMaxDepth) validate = compiled;
    }
    return { conf, content, schemaText: JSON.stringify(conf.jsonSchema ?? null), validate };
  },

  async access(p, ctx) {
    if (isTrue(ctx.request.header(MARKER))) return undefined;
    const read = await readJsonBody(ctx);
    if (!read.ok) {
      setLoggedText(ctx, 'ai_json_error', read.message);
      return { status: 400, body: { message: read.message } };
    }
    const request: JsonObject = { ...read.json, stream: false };
    const target: LlmTarget = { ...serviceFieldsAddress(p.conf, ctx.request.uri), apiKey: p.conf.apiKey, timeoutMs: p.conf.serviceTimeout };
    const headers = forwardedHeaders(ctx);
    const history: ChatMessage[] = [];
    let asked = lastMessageText(request.messages);
    let n = 0;
    try {
      for (let attempt = 0; ; attempt++) {
        const body = attempt === 0 ? request : { ...request, messages: [...history, { role: 'user', content: asked }] };
        n++;
        const reply = await postChat(target, body, ctx.signal, headers);
        if (!reply.ok) {
          ctx.log.warn({ service: p.conf.serviceName ?? target.url, kind: reply.kind }, `ai-json: ${reply.message}`);
          throw new Reject(1007, `service unavailable: ${reply.message}`);
        }
        const found = gjsonGet(reply.json, p.content);
        if (found === undefined) throw new Reject(1007, `response body does not contain the content: ${p.conf.contentPath}`);
        const content = gjsonString(found);
        const checked = checkAnswer(p, content);
        if (checked.ok) return answer(ctx, p, n, checked.json);
        if (asked !== '') history.push({ role: 'user', content: asked });
        if (content !== '') history.push({ role: 'assistant', content });
        history.push({ role: 'system', content: checked.message });
        if (attempt >= p.conf.maxRetry) throw new Reject(1006, `retry count exceeds max retry count: ${checked.message}`);
        asked = `Given the Json Schema: ${p.schemaText}, please help me convert the following content to a pure json: ${content}`
          + '\n Do not respond other content except the pure json!!!!';
      }
    } catch (err) {
      if (!(err instanceof Reject)) throw err;
      return refuse(ctx, n, err);
    }
  },
});

type Checked = { ok: true; json: string } | { ok: false; message: string };

function checkAnswer(p: AiJsonPrepared, content: string): Checked {
  if (content === '') return { ok: false, message: 'response body does not contain the content' };
  const start = content.indexOf('{');
  const end = content.lastIndexOf('}') + 1;
  if (start < 0 || start >= end) return { ok: false, message: 'response body does not contain the valid json: cannot find json in the response body' };
  const text = content.slice(start, end);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, message: `response body does not contain the valid json: ${(err as Error).message}` };
  }
  if (p.validate !== undefined && !p.validate(json)) {
    return { ok: false, message: `response body does not match the Json Schema: ${answerSchemaError(p.validate)}` };
  }
  return { ok: true, json: text };
}

function answer(ctx: PluginContext, p: AiJsonPrepared, n: number, json: string): PhaseResult {
  count(ctx, n, 'ok');
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (p.conf.enableContentDisposition) headers['content-disposition'] = 'attachment; filename="response.json"';
  return { status: 200, body: json, headers };
}

function refuse(ctx: PluginContext, n: number, err: Reject): PhaseResult {
  ctx.setVar('ai_json_code', err.code);
  setLoggedText(ctx, 'ai_json_error', err.message);
  count(ctx, n, String(err.code));
  return { status: 500, body: JSON.stringify({ Code: err.code, Msg: err.message }), headers: { 'content-type': 'application/json' } };
}

function count(ctx: PluginContext, n: number, code: string): void {
  ctx.setVar('ai_json_calls', n);
  answers ??= counter('gatehouse_ai_json_answers_total', 'Requests ai-json answered, by route and outcome (ok, or Higress\'s error code).', ['route', 'code']);
  calls ??= counter('gatehouse_ai_json_model_calls_total', 'Calls ai-json made to its model service, by route.', ['route']);
  answers.inc({ route: ctx.routeId ?? '', code });
  calls.inc({ route: ctx.routeId ?? '' }, n);
}

function forwardedHeaders(ctx: PluginContext): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(ctx.request.allHeaders?.() ?? {})) if (!DROPPED.has(name)) out[name] = value;
  out[MARKER] = 'true';
  return out;
}

function lastMessageText(messages: unknown): string {
  const last = Array.isArray(messages) ? messages.at(-1) as JsonObject | undefined : undefined;
  return typeof last?.content === 'string' ? last.content : '';
}

/** Go's strconv.ParseBool true values. */
function isTrue(value: string | undefined): boolean {
  return value !== undefined && ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value);
}
