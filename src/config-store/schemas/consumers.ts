// Consumer schema (APISIX `schema_def.lua` _M.consumer). Consumers are keyed by `username`.
import { idSchema, metadataProps, pluginsSchema, type Schema } from './common.js';

export const USERNAME_PATTERN = '^[a-zA-Z0-9_\\-]+$';

export const consumerSchema: Schema = {
  type: 'object',
  properties: {
    ...metadataProps({ name: false }),
    username: { type: 'string', minLength: 1, maxLength: 256, pattern: USERNAME_PATTERN },
    group_id: idSchema,
    plugins: pluginsSchema,
  },
  required: ['username'],
  additionalProperties: false,
};
