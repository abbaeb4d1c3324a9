// model-router (Higress): routes a request by the model its body names. The model (`modelKey`,
// a JSON path, or the form field of a multipart upload) is copied into a header
// (`modelToHeader`); a `provider/model` name is split, the provider into a header
// (`addProviderHeader`) and the body keeping the model alone; `higress/auto` picks a model by
// RE2 rules on the last user message. Routes are matched before plugins run, so the headers
// steer plugins after this one (canary-header at default 100) and the upstream; the Gatehouse
// extension `modelUpstreams` sends the request to an upstream by model itself. As Higress, it
// never refuses a request: a body that is not JSON (or has no model) passes untouched.
import type { PluginContext, UpstreamChoice } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { checkedInlineUpstream } from '../plugin-runtime/upstream-check.js';
import { isJsonContentType, readJsonBody, writeJsonBody, type JsonObject } from '../ai/protocol/json-body.js';
import { isPlainHeaderValue, MODEL_PATH_SUFFIXES, modelPattern, pathSuffixMatcher } from '../ai/protocol/model-names.js';
import { findFormField, formDataBoundary, replaceFormField } from '../ai/protocol/multipart-field.js';
import { lastUserMessage } from '../ai/protocol/last-user-message.js';
import { getPath, parseJsonPath, setPath, type JsonPath } from './common/json-path.js';
import { compileNgxRegex, type NgxRegex } from './common/ngx-regex.js';
import { routeCounter, setLoggedText } from './common/observe.js';

interface AutoRoutingConf {
  enable: boolean;
  defaultModel?: string;
  rules?: { pattern: string; model: string }[];
}

interface ModelUpstreamConf {
  model: string;
  upstream?: Record<string, unknown>;
  upstream_id?: string | number;
}

export interface ModelRouterConf {
  modelKey?: string;
  addProviderHeader?: string;
  modelToHeader?: string;
  enableOnPathSuffix?: string[];
  autoRouting?: AutoRoutingConf;
  modelUpstreams?: ModelUpstreamConf[];
}

interface ModelRouterPrepared {
  modelPath: JsonPath;
  formField: string;
  providerHeader: string | undefined;
  modelHeader: string | undefined;
  enabledOn: (path: string) => boolean;
  auto: { rules: { re: NgxRegex; model: string }[]; defaultModel: string | undefined } | undefined;
  upstreams: { matches: (model: string) => boolean; target: UpstreamChoice }[];
}

/** The model name that asks for auto routing. */
export const AUTO_MODEL = 'higress/auto';
/** The header auto routing sets to the model it chose (Higress's name). */
export const AUTO_MODEL_HEADER = 'x-higress-llm-model';

/** For access logs: the model the request was routed by, the provider split from it, and how auto routing chose (`rule`, `default`, `none`). */
registerVariable('model_router_model');
registerVariable('model_router_provider');
registerVariable('model_router_auto');

const countRouted = routeCounter('gatehouse_model_router_routed_total',
  'Requests whose model model-router read (and routed by), by route.');
const countAuto = routeCounter('gatehouse_model_router_auto_routed_total',
  'Requests auto routing gave a model (by a rule or the default), by route.');

const headerName = { type: 'string', minLength: 1, maxLength: 256, pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$' };
const modelName = { type: 'string', minLength: 1, maxLength: 256 };

export default definePlugin<ModelRouterConf, ModelRouterPrepared>({
  name: 'model-router',
  description: 'Routes AI requests by the model their body names: copies it (or its provider part) into headers, or picks an upstream.',
  version: '0.1',
  stage: 'authorization',
  priority: 900,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      modelKey: { type: 'string', minLength: 1, maxLength: 256, default: 'model' },
      addProviderHeader: headerName,
      modelToHeader: headerName,
      enableOnPathSuffix: { type: 'array', maxItems: 64, items: { type: 'string', minLength: 1, maxLength: 256 } },
      autoRouting: {
        type: 'object',
        additionalProperties: false,
        required: ['enable'],
        properties: {
          enable: { type: 'boolean' },
          defaultModel: modelName,
          rules: {
            type: 'array', maxItems: 256,
            items: {
              type: 'object', additionalProperties: false, required: ['pattern', 'model'],
              properties: { pattern: { type: 'string', minLength: 1, maxLength: 4096 }, model: modelName },
            },
          },
        },
      },
      modelUpstreams: {
        type: 'array', minItems: 1, maxItems: 256,
        items: {
          type: 'object', additionalProperties: false, required: ['model'],
          properties: {
            model: modelName,
            upstream: { type: 'object' },
            upstream_id: { anyOf: [{ type: 'string', minLength: 1, maxLength: 64 }, { type: 'integer' }] },
          },
        },
      },
    },
  },

  prepare(conf) {
    const modelKey = conf.modelKey ?? 'model';
    return {
      modelPath: parseJsonPath(modelKey, 'modelKey'),
      formField: modelKey,
      providerHeader: conf.addProviderHeader?.toLowerCase(),
      modelHeader: conf.modelToHeader?.toLowerCase(),
      enabledOn: pathSuffixMatcher(conf.enableOnPathSuffix ?? MODEL_PATH_SUFFIXES),
      auto: conf.autoRouting === undefined ? undefined : autoRouting(conf.autoRouting),
      upstreams: (conf.modelUpstreams ?? []).map((u, i) => ({ matches: modelPattern(u.model), target: upstreamChoice(u, `modelUpstreams[${i}]`) })),
    };
  },

  async access(p, ctx) {
    if (!p.enabledOn(ctx.request.uri)) return;
    const contentType = ctx.request.header('content-type');
    const boundary = formDataBoundary(contentType);
    if (boundary !== undefined) await routeForm(p, ctx, boundary);
    else if (isJsonContentType(contentType)) await routeJson(p, ctx);
  },
});

/** The compiled rules, checked even when `enable` is false (a bad rule is refused, not kept for later); undefined when disabled. */
function autoRouting(conf: AutoRoutingConf): ModelRouterPrepared['auto'] {
  const rules = (conf.rules ?? []).map((r, i) => {
    try {
      return { re: compileNgxRegex(r.pattern), model: r.model };
    } catch (e) {
      throw new Error(`autoRouting.rules[${i}].pattern: ${e instanceof Error ? e.message : String(e)}`);
    }
  });
  return conf.enable ? { rules, defaultModel: conf.defaultModel } : undefined;
}

function upstreamChoice(u: ModelUpstreamConf, where: string): UpstreamChoice {
  if (u.upstream === undefined && u.upstream_id === undefined) throw new Error(`${where}: upstream or upstream_id is required`);
  if (u.upstream !== undefined && u.upstream_id !== undefined) throw new Error(`${where}: upstream and upstream_id cannot both be set: give one`);
  return u.upstream !== undefined
    ? { upstream: checkedInlineUpstream(u.upstream, `${where}.upstream`) }
    : { upstream_id: String(u.upstream_id) };
}

async function routeJson(p: ModelRouterPrepared, ctx: PluginContext): Promise<void> {
  const read = await readJsonBody(ctx);
  if (!read.ok) return;
  const json = read.json;
  const model = getPath(json, p.modelPath);
  if (typeof model !== 'string' || model === '') return;
  if (p.auto !== undefined && model === AUTO_MODEL) {
    const chosen = autoModel(p.auto, json);
    ctx.setVar('model_router_auto', chosen === undefined ? 'none' : chosen.by);
    if (chosen !== undefined) {
      countAuto(ctx);
      setModelHeader(ctx, AUTO_MODEL_HEADER, chosen.model);
      if (setPath(json, p.modelPath, chosen.model)) writeJsonBody(ctx, json);
    }
    return routed(p, ctx, chosen?.model ?? model);
  }
  const provider = splitProvider(p, ctx, model);
  if (provider !== undefined && setPath(json, p.modelPath, provider.model)) writeJsonBody(ctx, json);
  routed(p, ctx, model);
}

async function routeForm(p: ModelRouterPrepared, ctx: PluginContext, boundary: string): Promise<void> {
  const body = await ctx.request.body();
  const field = findFormField(body, boundary, p.formField);
  if (field === undefined) return;
  const model = field.value.toString('utf8');
  if (model === '') return;
  const provider = splitProvider(p, ctx, model);
  if (provider !== undefined) ctx.request.setBody(replaceFormField(body, field, provider.model));
  routed(p, ctx, model);
}

/** Sets modelToHeader and addProviderHeader for `model`; the provider split, when there is one, for the body. */
function splitProvider(p: ModelRouterPrepared, ctx: PluginContext, model: string): { provider: string; model: string } | undefined {
  if (p.modelHeader !== undefined) setModelHeader(ctx, p.modelHeader, model);
  if (p.providerHeader === undefined) return undefined;
  const slash = model.indexOf('/');
  if (slash < 0) return undefined;
  const provider = model.slice(0, slash);
  setModelHeader(ctx, p.providerHeader, provider);
  setLoggedText(ctx, 'model_router_provider', provider);
  return { provider, model: model.slice(slash + 1) };
}

/** Logs and counts the request's model and sends it to the first modelUpstreams entry matching it. */
function routed(p: ModelRouterPrepared, ctx: PluginContext, model: string): void {
  setLoggedText(ctx, 'model_router_model', model);
  countRouted(ctx);
  const hit = p.upstreams.find((u) => u.matches(model));
  if (hit === undefined) return;
  if (ctx.setUpstream === undefined) throw new Error('model-router needs a context that can choose the upstream');
  ctx.setUpstream(hit.target);
}

function setModelHeader(ctx: PluginContext, name: string, value: string): void {
  if (isPlainHeaderValue(value)) ctx.request.setHeader(name, value);
}

/** Higress's choice for `higress/auto`: the first rule matching the last user message, else the default. */
function autoModel(auto: NonNullable<ModelRouterPrepared['auto']>, json: JsonObject): { model: string; by: 'rule' | 'default' } | undefined {
  const message = lastUserMessage(json.messages);
  if (message !== '') {
    for (const rule of auto.rules) if (rule.re.match(message) !== undefined) return { model: rule.model, by: 'rule' };
  }
  return auto.defaultModel !== undefined ? { model: auto.defaultModel, by: 'default' } : undefined;
}
