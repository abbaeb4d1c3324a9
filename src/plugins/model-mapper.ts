// model-mapper (Higress): renames the model a JSON request body names (`modelKey`), so clients
// can keep asking for `gpt-4o` while the provider behind the route serves another model.
// `modelMapping` keys are exact names, `prefix*` (tried in alphabetical order, as Higress) or
// `*` for any other (a body without a model gets it too, as in Higress); an empty target
// keeps the name. The body is rewritten only when the name changes. As Higress, it never
// refuses a request: a body that is not JSON, or whose model is not a string, passes untouched.
import { registerVariable } from '../core/expr/index.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { isJsonContentType, readJsonBody, writeJsonBody } from '../ai/protocol/json-body.js';
import { compileModelMapping, MODEL_PATH_SUFFIXES, pathSuffixMatcher } from '../ai/protocol/model-names.js';
import { getPath, parseJsonPath, setPath, type JsonPath } from './common/json-path.js';
import { routeCounter, setLoggedText } from './common/observe.js';

export interface ModelMapperConf {
  modelKey?: string;
  modelMapping?: Record<string, string>;
  enableOnPathSuffix?: string[];
}

interface ModelMapperPrepared {
  modelPath: JsonPath;
  mapModel: (model: string) => string;
  enabledOn: (path: string) => boolean;
}

/** For access logs: the model the client asked for and the one sent upstream, when the plugin renamed it. */
registerVariable('model_mapper_from');
registerVariable('model_mapper_to');

const countMapped = routeCounter('gatehouse_model_mapper_mapped_total', 'Requests whose model model-mapper renamed, by route.');

export default definePlugin<ModelMapperConf, ModelMapperPrepared>({
  name: 'model-mapper',
  description: 'Renames the model an AI request body names, by exact names, name prefixes and a default.',
  version: '0.1',
  stage: 'authorization',
  priority: 800,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      modelKey: { type: 'string', minLength: 1, maxLength: 256, default: 'model' },
      modelMapping: {
        type: 'object',
        maxProperties: 1024,
        propertyNames: { maxLength: 256 },
        additionalProperties: { type: 'string', maxLength: 256 },
      },
      enableOnPathSuffix: { type: 'array', maxItems: 64, items: { type: 'string', minLength: 1, maxLength: 256 } },
    },
  },

  prepare(conf) {
    return {
      modelPath: parseJsonPath(conf.modelKey ?? 'model', 'modelKey'),
      mapModel: compileModelMapping(conf.modelMapping ?? {}),
      enabledOn: pathSuffixMatcher(conf.enableOnPathSuffix ?? MODEL_PATH_SUFFIXES),
    };
  },

  async access(p, ctx) {
    if (!p.enabledOn(ctx.request.uri) || !isJsonContentType(ctx.request.header('content-type'))) return;
    const read = await readJsonBody(ctx);
    if (!read.ok) return;
    const old = getPath(read.json, p.modelPath);
    if (old !== undefined && typeof old !== 'string') return;
    const from = old ?? '';
    const to = p.mapModel(from);
    if (to === '' || to === from || !setPath(read.json, p.modelPath, to)) return;
    writeJsonBody(ctx, read.json);
    setLoggedText(ctx, 'model_mapper_from', from);
    setLoggedText(ctx, 'model_mapper_to', to);
    countMapped(ctx);
  },
});
