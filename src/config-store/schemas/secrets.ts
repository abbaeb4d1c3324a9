// Secret manager objects (APISIX `apisix/secret/vault.lua` schema): `secrets/vault/<id>`,
// stored with the id `vault/<id>`. APISIX also has `aws` and `gcp` managers; Gatehouse
// implements Vault only, and validate.ts refuses the others by name.
import type { Schema } from './common.js';

export const SECRET_MANAGERS = ['vault'] as const;
export const KNOWN_UNSUPPORTED_SECRET_MANAGERS = ['aws', 'gcp'] as const;

export const vaultSecretSchema: Schema = {
  type: 'object',
  properties: {
    id: { type: 'string', pattern: '^vault/[a-zA-Z0-9-_.]{1,64}$' },
    uri: { type: 'string', pattern: '^https?://[^\\s]+$', description: 'base address of the Vault server' },
    prefix: { type: 'string', minLength: 1, description: 'the KV engine path, e.g. kv/apisix (v1) or kv/data/apisix (v2)' },
    token: { type: 'string', minLength: 1, description: 'sent as X-Vault-Token; may be $env://NAME' },
    namespace: { type: 'string', minLength: 1, description: 'sent as X-Vault-Namespace (Vault Enterprise)' },
    create_time: { type: 'integer' },
    update_time: { type: 'integer' },
  },
  required: ['uri', 'prefix', 'token'],
  additionalProperties: false,
};
