import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkGatewayVersion, compareVersions, parsePublishFields } from './form.js';

const fields = (o: Record<string, string>): Map<string, string> => new Map(Object.entries(o));

describe('publish form fields', () => {
  it('turns text fields into plugin fields; empty inputs count as not given', () => {
    const f = parsePublishFields(fields({ name: 'Add header', stage: 'AUTHN', priority: '-10', enabled: 'false', description: '', version: '2.0.0' }));
    assert.deepEqual(f.fields, { name: 'Add header', stage: 'AUTHN', priority: -10, enabled: false });
    assert.equal(f.version, '2.0.0');
    assert.equal(f.configuration.toString(), '{}');
  });

  it('names the field that is wrong', () => {
    assert.throws(() => parsePublishFields(fields({ priority: '1.5' })), /invalid field priority/);
    assert.throws(() => parsePublishFields(fields({ enabled: 'yes' })), /invalid field enabled/);
    assert.throws(() => parsePublishFields(fields({ configuration: '{oops' })), /invalid field configuration: not JSON/);
    assert.throws(() => parsePublishFields(fields({ stag: 'default' })), /unknown field stag/);
  });

  it('keeps the configuration text for the check', () => {
    assert.equal(parsePublishFields(fields({ configuration: '{"a":1}' })).configuration.toString(), '{"a":1}');
  });
});

describe('gateway version', () => {
  it('compares x.y.z numerically', () => {
    assert.ok(compareVersions('0.10.0', '0.9.9') > 0);
    assert.equal(compareVersions('1.2.3', '1.2.3'), 0);
    assert.ok(compareVersions('1.2.3', '1.3.0') < 0);
  });

  it('refuses to enable a plugin that needs a newer gateway, and only then', () => {
    assert.throws(() => checkGatewayVersion('p', { enabled: true, gateway_version: '9.0.0' }, '0.1.0'),
      /custom plugin p needs gateway >= 9.0.0, this gateway is 0.1.0/);
    checkGatewayVersion('p', { enabled: false, gateway_version: '9.0.0' }, '0.1.0');
    checkGatewayVersion('p', { enabled: true, gateway_version: 'any' }, '0.1.0');
    checkGatewayVersion('p', { enabled: true, gateway_version: '0.1.0' }, '0.1.0-dev');
  });
});
