// Credential schema (APISIX 3.7+ `schema_def.lua` _M.credential): one auth plugin
// instance under a consumer. Stored ids are `<username>/<credential id>` (see state.ts).
import { idSchema, metadataProps, type Schema } from './common.js';

export const credentialSchema: Schema = {
  type: 'object',
  properties: {
    ...metadataProps(),
    id: {
      oneOf: [
        idSchema,
        // the etcd-key form APISIX also accepts: `<username>/credentials/<id>`
        { type: 'string', minLength: 15, maxLength: 128, pattern: '^[a-zA-Z0-9-_]+/credentials/[a-zA-Z0-9-_.]+$' },
      ],
    },
    // A credential is one way to authenticate, so it holds a single (auth) plugin.
    plugins: { type: 'object', maxProperties: 1 },
  },
  additionalProperties: false,
};
