import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectRefs, isSecretRef, parseSecretRef, resolveEnvRef, substituteRefs } from './references.js';

test('references are recognised with APISIX prefixes ($env:// in any case, $secret:// exactly)', () => {
  assert.equal(isSecretRef('$env://A'), true);
  assert.equal(isSecretRef('$ENV://A'), true);
  assert.equal(isSecretRef('$secret://vault/1/a/b'), true);
  assert.equal(isSecretRef('$SECRET://vault/1/a/b'), false);
  assert.equal(isSecretRef('env://A'), false);
  assert.equal(isSecretRef(7), false);
});

test('$secret://manager/id/path/key splits the last segment off as the field', () => {
  assert.deepEqual(parseSecretRef('$secret://vault/1/apps/jack/auth_key'),
    { kind: 'secret', manager: 'vault', id: '1', path: 'apps/jack', field: 'auth_key' });
  assert.throws(() => parseSecretRef('$secret://vault'), /no secret manager/);
  assert.throws(() => parseSecretRef('$secret://vault/1'), /no secret id/);
  assert.throws(() => parseSecretRef('$secret://vault/1/onlykey'), /<path>\/<key>/);
  assert.deepEqual(parseSecretRef('$env://NAME/field'), { kind: 'env', name: 'NAME', field: 'field' });
  assert.deepEqual(parseSecretRef('$env://NAME'), { kind: 'env', name: 'NAME', field: undefined });
});

test('$env://NAME/key reads a field of a JSON value; a missing variable or field is an error', () => {
  const env = { PLAIN: 'v', J: '{"k":"x","n":3}', BAD: 'not json' };
  assert.deepEqual(resolveEnvRef({ kind: 'env', name: 'PLAIN', field: undefined }, env), { value: 'v' });
  assert.deepEqual(resolveEnvRef({ kind: 'env', name: 'J', field: 'k' }, env), { value: 'x' });
  assert.deepEqual(resolveEnvRef({ kind: 'env', name: 'J', field: 'n' }, env), { value: '3' });
  assert.ok('error' in resolveEnvRef({ kind: 'env', name: 'J', field: 'zz' }, env));
  assert.ok('error' in resolveEnvRef({ kind: 'env', name: 'BAD', field: 'k' }, env));
  assert.ok('error' in resolveEnvRef({ kind: 'env', name: 'NONE', field: undefined }, env));
});

test('collect and substitute walk nested objects and arrays', () => {
  const conf = { a: '$env://A', b: [{ c: '$secret://vault/1/p/k' }, 'plain'], d: 1 };
  assert.deepEqual([...collectRefs(conf)].sort(), ['$env://A', '$secret://vault/1/p/k']);
  assert.deepEqual(substituteRefs(conf, (r) => `<${r.length}>`), { a: '<8>', b: [{ c: '<21>' }, 'plain'], d: 1 });
});
