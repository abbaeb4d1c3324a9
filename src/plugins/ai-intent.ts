// ai-intent: Higress's (wasm-go). Asks a configured model which of the configured
// categories the request's question belongs to, and sets `$intent_category` to the first
// category equal to or contained in the answer, for the plugins after it (their
// `_meta.filter`) and the access log. It never refuses: when the model fails or names no
// category the request goes on without the variable.
//
// Gatehouse differences: the address is `llm.proxyUrl` (with `proxyDomain`/`proxyPort`
// replacing its host and port), not an Envoy cluster; `llm.proxyServiceName` only names the
// service in logs. The default prompt is Higress's, in English.
import type { PluginContext } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { counter } from '../observability/metrics.js';
import { readJsonBody } from '../ai/protocol/json-body.js';
import { chatCompletion, type LlmTarget } from '../ai/outbound/llm-client.js';
import { proxyUrlAddress } from '../ai/outbound/service-url.js';
import { gjsonGet, gjsonString, parseGjsonPath, type GjsonPath } from '../ai/json-path/gjson-path.js';
import { setLoggedText } from './common/observe.js';

export interface AiIntentConf {
  scene: { category: string; prompt?: string };
  llm: {
    proxyServiceName?: string; proxyUrl: string; proxyDomain?: string; proxyPort?: number;
    proxyApiKey?: string; proxyModel: string; proxyTimeout: number;
  };
  keyFrom: { requestBody: string; responseBody: string };
}

interface AiIntentPrepared {
  categories: readonly string[];
  categoryText: string;
  prompt: string;
  target: LlmTarget;
  model: string;
  service: string;
  question: GjsonPath;
  answer: GjsonPath;
}

export const DEFAULT_INTENT_PROMPT = 'You are an intent classification assistant: given the user\'s question and the preset '
  + 'categories, decide which preset category the question belongs to. The question is: \'%s\'. The preset categories are '
  + '\'%s\'. Answer with exactly one category; if none fits, answer \'NotFound\'.';

/** The category the model chose (one of `scene.category`), for later plugins' `_meta.filter` and logs; nil when none. */
registerVariable('intent_category');
/** For access logs: why no category was set (the model call failed, or its answer named none). */
registerVariable('ai_intent_error');

let classified: ReturnType<typeof counter<'route' | 'category'>> | undefined;
let failed: ReturnType<typeof counter<'route' | 'reason'>> | undefined;

const text = { type: 'string' } as const;

export default definePlugin<AiIntentConf, AiIntentPrepared>({
  name: 'ai-intent',
  description: 'Classifies the prompt\'s intent with a configured model into `$intent_category`, for later plugins and logs.',
  version: '0.1',
  stage: 'default',
  priority: 700,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['scene', 'llm'],
    properties: {
      scene: {
        type: 'object', additionalProperties: false, required: ['category'],
        properties: { category: { type: 'string', minLength: 1 }, prompt: { type: 'string', minLength: 1 } },
      },
      llm: {
        type: 'object', additionalProperties: false, required: ['proxyUrl'],
        properties: {
          proxyServiceName: text,
          proxyUrl: { type: 'string', minLength: 1 },
          proxyDomain: text,
          proxyPort: { type: 'integer', minimum: 1, maximum: 65535 },
          proxyApiKey: text,
          proxyModel: { type: 'string', minLength: 1, default: 'qwen-long' },
          proxyTimeout: { type: 'integer', minimum: 1, default: 10000 },
        },
      },
      keyFrom: {
        type: 'object', additionalProperties: false, default: {},
        properties: {
          requestBody: { type: 'string', minLength: 1, default: 'messages.@reverse.0.content' },
          responseBody: { type: 'string', minLength: 1, default: 'choices.0.message.content' },
        },
      },
    },
  },

  prepare(conf) {
    const categories = conf.scene.category.split('|').filter((c) => c.trim() !== '');
    if (categories.length === 0) throw new Error('scene.category: no category between the "|" separators');
    const address = proxyUrlAddress(conf.llm, 'llm.');
    return {
      categories,
      categoryText: conf.scene.category,
      prompt: conf.scene.prompt ?? DEFAULT_INTENT_PROMPT,
      target: { url: address.url, apiKey: conf.llm.proxyApiKey, timeoutMs: conf.llm.proxyTimeout },
      model: conf.llm.proxyModel,
      service: conf.llm.proxyServiceName ?? address.url,
      question: parseGjsonPath(conf.keyFrom.requestBody, 'keyFrom.requestBody'),
      answer: parseGjsonPath(conf.keyFrom.responseBody, 'keyFrom.responseBody'),
    };
  },

  async rewrite(p, ctx) {
    const body = await readJsonBody(ctx);
    if (!body.ok) return fail(ctx, 'no_question', `no question: ${body.message}`);
    const question = gjsonString(gjsonGet(body.json, p.question));
    const prompt = fillPrintf(p.prompt, [question, p.categoryText]);
    const reply = await chatCompletion(p.target, p.model, [{ role: 'user', content: prompt }], ctx.signal);
    if (!reply.ok) {
      ctx.log.warn({ service: p.service, kind: reply.kind }, `ai-intent: ${reply.message}`);
      return fail(ctx, reply.kind, reply.message);
    }
    const answer = gjsonString(gjsonGet(reply.json, p.answer));
    const category = p.categories.find((c) => c === answer || answer.includes(c));
    if (category === undefined) return fail(ctx, 'no_category', `the model named no category: ${answer}`);
    ctx.setVar('intent_category', category);
    classified ??= counter('gatehouse_ai_intent_classified_total', 'Requests ai-intent put in a category, by route and category.', ['route', 'category']);
    classified.inc({ route: ctx.routeId ?? '', category });
    return undefined;
  },
});

function fail(ctx: PluginContext, reason: string, message: string): undefined {
  setLoggedText(ctx, 'ai_intent_error', message);
  failed ??= counter('gatehouse_ai_intent_failed_total',
    'Requests ai-intent set no category for, by route and reason (no_question, no_category, timeout, status, network, not_json, too_large, aborted).', ['route', 'reason']);
  failed.inc({ route: ctx.routeId ?? '', reason });
  return undefined;
}

/** Go's Sprintf for `%s` and `%%` only: the prompt's n-th `%s` takes `args[n]`; one beyond them stays as written. */
export function fillPrintf(format: string, args: readonly string[]): string {
  let n = 0;
  return format.replace(/%[s%]/g, (m) => (m === '%%' ? '%' : n < args.length ? args[n++]! : m));
}
