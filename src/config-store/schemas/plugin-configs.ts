// Plugin config schema (APISIX `schema_def.lua` _M.plugin_config): a reusable plugin set
// a route points at with `plugin_config_id`.
import { metadataProps, pluginsSchema, type Schema } from './common.js';

export const pluginConfigSchema: Schema = {
  type: 'object',
  properties: { ...metadataProps({ name: { type: 'string' } }), plugins: pluginsSchema },
  required: ['id', 'plugins'],
  additionalProperties: false,
};
