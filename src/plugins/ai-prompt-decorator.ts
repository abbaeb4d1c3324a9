// ai-prompt-decorator: APISIX's. Adds configured messages before (`prepend`) and after
// (`append`) the conversation of an AI request, in the shape of the API the body is written
// for: chat and Anthropic messages lists, Bedrock Converse's system and content blocks, the
// Responses API's `instructions` and `input` (src/ai/prompt/prompt-messages.ts). The configured
// messages are copied into each request's body, so nothing builds up across requests.
//
// Gatehouse differences: a body whose `messages` (or Responses `input`) has a shape that
// cannot take messages is refused with 400 naming the field (APISIX fails with a 500), and
// a body over max_req_body_size is 413 (APISIX: 400).
import type { PhaseResult, PluginContext } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { counter } from '../observability/metrics.js';
import { MAX_REQ_BODY_SIZE_SCHEMA, readBoundedJsonBody } from '../ai/protocol/bounded-json-body.js';
import { writeJsonBody, type JsonObject } from '../ai/protocol/json-body.js';
import { addPromptMessages, detectPromptProtocol, PROMPT_MESSAGE_SCHEMA, PromptShapeError, type PromptMessage } from '../ai/prompt/prompt-messages.js';
import { setLoggedText } from './common/observe.js';

export interface AiPromptDecoratorConf {
  prepend?: PromptMessage[];
  append?: PromptMessage[];
  max_req_body_size: number;
}

interface AiPromptDecoratorPrepared {
  prepend: readonly PromptMessage[];
  append: readonly PromptMessage[];
  maxBodySize: number;
}

/** For access logs: the API shape the body was read as (`openai-chat`, `anthropic-messages`, `openai-responses`, …). */
registerVariable('ai_prompt_decorator_protocol');
/** For access logs: why the plugin refused the request. */
registerVariable('ai_prompt_decorator_error');

let decorated: ReturnType<typeof counter<'route' | 'protocol'>> | undefined;

// APISIX sends a message's other fields for chat and drops them for the other shapes: refused here.
const prompts = { type: 'array', items: { ...PROMPT_MESSAGE_SCHEMA, additionalProperties: false } };

export default definePlugin<AiPromptDecoratorConf, AiPromptDecoratorPrepared>({
  name: 'ai-prompt-decorator',
  description: 'Adds configured messages before and after the conversation of an AI chat request.',
  version: '0.1',
  stage: 'default',
  priority: 450,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      prepend: prompts,
      append: prompts,
      max_req_body_size: MAX_REQ_BODY_SIZE_SCHEMA,
    },
  },

  prepare(conf) {
    // Checked here rather than by a schema anyOf, whose message would not name the fields.
    if (conf.prepend === undefined && conf.append === undefined) throw new Error('prepend or append is required');
    return { prepend: conf.prepend ?? [], append: conf.append ?? [], maxBodySize: conf.max_req_body_size };
  },

  async rewrite(p, ctx) {
    const read = await readBoundedJsonBody(ctx, p.maxBodySize);
    if (!read.ok) return refuse(ctx, read.status, read.message);
    const protocol = detectPromptProtocol(read.json, ctx.request.uri);
    ctx.setVar('ai_prompt_decorator_protocol', protocol);
    let body: JsonObject;
    try {
      body = addPromptMessages(read.json, protocol, p.prepend, p.append);
    } catch (err) {
      if (err instanceof PromptShapeError) return refuse(ctx, 400, err.message);
      throw err;
    }
    if (body === read.json) return undefined;
    writeJsonBody(ctx, body);
    decorated ??= counter('gatehouse_ai_prompt_decorator_decorated_total',
      'Requests ai-prompt-decorator added messages to, by route and API shape.', ['route', 'protocol']);
    decorated.inc({ route: ctx.routeId ?? '', protocol });
    return undefined;
  },
});

function refuse(ctx: PluginContext, status: number, message: string): PhaseResult {
  setLoggedText(ctx, 'ai_prompt_decorator_error', message);
  return { status, body: { message } };
}
