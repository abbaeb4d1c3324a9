// Consumer group schema (APISIX `schema_def.lua` _M.consumer_group).
import { metadataProps, pluginsSchema, type Schema } from './common.js';

export const consumerGroupSchema: Schema = {
  type: 'object',
  properties: { ...metadataProps(), plugins: pluginsSchema },
  required: ['id', 'plugins'],
  additionalProperties: false,
};
