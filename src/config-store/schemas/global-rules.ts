// Global rule schema (APISIX `schema_def.lua` _M.global_rule): plugins run for every request.
import { idSchema, pluginsSchema, timestampDef, type Schema } from './common.js';

export const globalRuleSchema: Schema = {
  type: 'object',
  properties: {
    id: idSchema,
    create_time: timestampDef,
    update_time: timestampDef,
    plugins: pluginsSchema,
  },
  required: ['id', 'plugins'],
  additionalProperties: false,
};
