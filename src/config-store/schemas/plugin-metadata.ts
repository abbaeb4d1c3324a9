// Plugin metadata: one object per plugin, `id` = plugin name. The other fields belong to
// the plugin's `metadataSchema`, which the plugin runtime checks (`checkMetadata` hook in
// validate.ts); here only the envelope is checked.
import type { Schema } from './common.js';

export const pluginMetadataSchema: Schema = {
  type: 'object',
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[a-zA-Z0-9-_.]+$' },
  },
  required: ['id'],
};
