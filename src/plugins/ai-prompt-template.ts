// ai-prompt-template: APISIX's. The route offers named prompt templates; a client sends
// `template_name` and the values, and the body sent on is the template with its
// `{{field}}`s filled from the body's top-level fields. The template replaces the whole
// body, so fields it does not name (`template_name`, `stream`) are not sent on.
//
// Gatehouse differences: templates are compiled when the config is written and only name
// body fields (APISIX's lua-resty-template runs any Lua in `{% %}` and resolves other names
// to Lua globals); a value is filled in as a JSON string, so backslashes and newlines arrive
// as sent (APISIX pastes them into the JSON text). A body over max_req_body_size is 413.
import type { PhaseResult, PluginContext } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { counter } from '../observability/metrics.js';
import { MAX_REQ_BODY_SIZE_SCHEMA, readBoundedJsonBody } from '../ai/protocol/bounded-json-body.js';
import { writeJsonBody, type JsonObject } from '../ai/protocol/json-body.js';
import { PROMPT_MESSAGE_SCHEMA } from '../ai/prompt/prompt-messages.js';
import { compileTemplate, renderTemplate, TemplateRenderError, type CompiledTemplate } from '../ai/prompt/prompt-template.js';
import { setLoggedText } from './common/observe.js';

export interface AiPromptTemplateConf {
  templates: { name: string; template: JsonObject }[];
  max_req_body_size: number;
}

interface AiPromptTemplatePrepared {
  templates: Map<string, CompiledTemplate>;
  maxBodySize: number;
}

/** For access logs: the name of the template the request was filled into. */
registerVariable('ai_prompt_template_name');
/** For access logs: why the plugin refused the request. */
registerVariable('ai_prompt_template_error');

let rendered: ReturnType<typeof counter<'route' | 'template'>> | undefined;

export default definePlugin<AiPromptTemplateConf, AiPromptTemplatePrepared>({
  name: 'ai-prompt-template',
  description: 'Fills a named prompt template with values from the request body and sends the result as the body.',
  version: '0.1',
  stage: 'default',
  priority: 500,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      templates: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          required: ['name', 'template'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1 },
            // Other fields (temperature, stream, …) are part of the body the template makes.
            template: {
              type: 'object',
              properties: {
                model: { type: 'string', minLength: 1 },
                messages: { type: 'array', minItems: 1, items: PROMPT_MESSAGE_SCHEMA },
              },
            },
          },
        },
      },
      max_req_body_size: MAX_REQ_BODY_SIZE_SCHEMA,
    },
    required: ['templates'],
  },

  prepare(conf) {
    const templates = new Map<string, CompiledTemplate>();
    conf.templates.forEach(({ name, template }, i) => {
      if (templates.has(name)) throw new Error(`templates[${i}].name: "${name}" is already the name of an earlier template`);
      templates.set(name, compileTemplate(template, `templates[${i}].template`));
    });
    return { templates, maxBodySize: conf.max_req_body_size };
  },

  async rewrite(p, ctx) {
    const read = await readBoundedJsonBody(ctx, p.maxBodySize);
    if (!read.ok) return refuse(ctx, read.status, read.message);
    const name = read.json.template_name;
    if (name === undefined || name === null || name === false) return refuse(ctx, 400, 'template name is missing in request.');
    const template = typeof name === 'string' ? p.templates.get(name) : undefined;
    if (template === undefined) {
      return refuse(ctx, 400, `template: ${typeof name === 'string' ? name : JSON.stringify(name)} not configured.`);
    }
    let body: JsonObject;
    try {
      body = renderTemplate(template, read.json, p.maxBodySize);
    } catch (err) {
      if (err instanceof TemplateRenderError) return refuse(ctx, err.status, err.message);
      throw err;
    }
    writeJsonBody(ctx, body);
    ctx.setVar('ai_prompt_template_name', name);
    rendered ??= counter('gatehouse_ai_prompt_template_rendered_total',
      'Requests ai-prompt-template filled into a template, by route and template name.', ['route', 'template']);
    rendered.inc({ route: ctx.routeId ?? '', template: name as string });
    return undefined;
  },
});

function refuse(ctx: PluginContext, status: number, message: string): PhaseResult {
  setLoggedText(ctx, 'ai_prompt_template_error', message);
  return { status, body: { message } };
}
