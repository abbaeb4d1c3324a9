import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStandaloneConfig } from './standalone-parse.js';

test('a standalone file declares Vault secret managers under `secrets`, with ids <manager>/<id>', () => {
  const objs = parseStandaloneConfig('secrets:\n  - { id: vault/1, uri: "http://127.0.0.1:8200", prefix: kv/apisix, token: "$env://VAULT_TOKEN" }\n');
  assert.deepEqual(objs.map((o) => [o.kind, o.id]), [['secrets', 'vault/1']]);
});

test('aws and gcp managers are refused by name, unknown ones as invalid, a missing token by field', () => {
  assert.throws(() => parseStandaloneConfig('secrets:\n  - { id: aws/1, access_key_id: a, secret_access_key: b }\n'),
    /secret manager aws is not supported by Gatehouse/);
  assert.throws(() => parseStandaloneConfig('secrets:\n  - { id: gcp/1 }\n'), /secret manager gcp is not supported/);
  assert.throws(() => parseStandaloneConfig('secrets:\n  - { id: other/1 }\n'), /invalid secret manager: other/);
  assert.throws(() => parseStandaloneConfig('secrets:\n  - { id: vault/1, uri: "http://x", prefix: kv }\n'), /token/);
});
