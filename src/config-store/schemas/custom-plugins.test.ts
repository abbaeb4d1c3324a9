import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateResource } from '../validate.js';

const SHA = 'a'.repeat(64);
const base = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  id: 'add-header', name: 'Add header', stage: 'default', priority: 10, root_id: 'add-header', version: '1.0.0',
  versions: [{ version: '1.0.0', sha256: SHA, size: 10, abi: '0.2.1', created_at: 1 }], ...over,
});

describe('custom_plugins schema', () => {
  it('fills defaults: any gateway version, fail closed, enabled', () => {
    const v = validateResource('custom_plugins', base());
    assert.equal(v.gateway_version, 'any');
    assert.equal(v.fail_strategy, 'FAIL_CLOSE');
    assert.equal(v.enabled, true);
  });

  it('normalises Higress phase names to the stage in the same position', () => {
    assert.equal(validateResource('custom_plugins', base({ stage: 'AUTHN' })).stage, 'authorization');
    assert.equal(validateResource('custom_plugins', base({ stage: 'AUTHZ' })).stage, 'authentication');
    assert.equal(validateResource('custom_plugins', base({ stage: 'STATS' })).stage, 'statistics');
    assert.equal(validateResource('custom_plugins', base({ stage: 'UNSPECIFIED_PHASE' })).stage, 'default');
  });

  it('refuses an unknown stage, a fractional priority, a bad gateway version or fail strategy', () => {
    assert.throws(() => validateResource('custom_plugins', base({ stage: 'late' })), /stage/);
    assert.throws(() => validateResource('custom_plugins', base({ priority: 1.5 })), /priority/);
    assert.throws(() => validateResource('custom_plugins', base({ gateway_version: '1.2' })), /gateway_version/);
    assert.throws(() => validateResource('custom_plugins', base({ fail_strategy: 'FAIL_SOMETIMES' })), /fail_strategy/);
    assert.throws(() => validateResource('custom_plugins', base({ id: 'a/b' })), /id/);
  });

  it('accepts a minimum gateway version x.y.z', () => {
    assert.equal(validateResource('custom_plugins', base({ gateway_version: '0.2.0' })).gateway_version, '0.2.0');
  });

  it('the serving version must be a published one, each published once', () => {
    assert.throws(() => validateResource('custom_plugins', base({ version: '2.0.0' })), /version 2.0.0 is not one of the published versions/);
    const v = { version: '1.0.0', sha256: SHA, size: 1, abi: '0.2.1', created_at: 1 };
    assert.throws(() => validateResource('custom_plugins', base({ versions: [v, v] })), /appears twice/);
  });
});
