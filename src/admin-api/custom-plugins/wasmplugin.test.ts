import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdminError } from '../errors.js';
import { effectivePullPolicy, importedVersion, parseImportBody, verifySha256 } from './import.js';
import { mapWasmPlugin, parseResourceDocuments } from './wasmplugin.js';

const resource = (spec: Record<string, unknown>, metadata: Record<string, unknown> = { name: 'demo' }): unknown => ({
  apiVersion: 'extensions.higress.io/v1alpha1', kind: 'WasmPlugin', metadata, spec: { url: 'oci://127.0.0.1:5000/demo:1.2.0', ...spec },
});

function refused(fn: () => unknown, status: number, field: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof AdminError && e.status === status && field.test(e.message));
}

describe('WasmPlugin field mapping', () => {
  it('maps name, pluginName, phase, priority and failStrategy; defaults for the absent ones', () => {
    const m = mapWasmPlugin(resource({ pluginName: 'add_header', phase: 'AUTHN', priority: 310, failStrategy: 'FAIL_OPEN' }));
    assert.equal(m.id, 'demo');
    assert.deepEqual(m.fields, { stage: 'authorization', priority: 310, root_id: 'add_header', fail_strategy: 'FAIL_OPEN', language: 'unknown' });
    const d = mapWasmPlugin(resource({}));
    assert.deepEqual(d.fields, { stage: 'default', priority: 0, root_id: 'demo', fail_strategy: 'FAIL_CLOSE', language: 'unknown' });
    for (const [phase, stage] of [['AUTHZ', 'authentication'], ['STATS', 'statistics'], ['UNSPECIFIED_PHASE', 'default']]) {
      assert.equal(mapWasmPlugin(resource({ phase })).fields.stage, stage);
    }
    assert.equal(mapWasmPlugin(resource({ priority: '-5' })).fields.priority, -5);
  });

  it('reads title, description and version from Higress console annotations and labels', () => {
    const m = mapWasmPlugin(resource({}, {
      name: 'demo', annotations: { 'higress.io/wasm-plugin-title': 'Demo', 'higress.io/wasm-plugin-description': 'Adds a header' },
      labels: { 'higress.io/wasm-plugin-version': '2.0.0' },
    }));
    assert.equal(m.fields.name, 'Demo');
    assert.equal(m.fields.description, 'Adds a header');
    assert.equal(m.version, '2.0.0');
  });

  it('refuses what it cannot honour with a 400 naming the field', () => {
    refused(() => mapWasmPlugin(resource({ phase: 'AUTH' })), 400, /spec\.phase/);
    refused(() => mapWasmPlugin(resource({ failStrategy: 'MAYBE' })), 400, /spec\.failStrategy/);
    refused(() => mapWasmPlugin(resource({ priority: 1.5 })), 400, /spec\.priority/);
    refused(() => mapWasmPlugin(resource({ imagePullSecret: 'creds' })), 400, /spec\.imagePullSecret/);
    refused(() => mapWasmPlugin(resource({ vmConfig: { env: [{ name: 'A', value: 'b' }] } })), 400, /spec\.vmConfig\.env/);
    refused(() => mapWasmPlugin(resource({ sha256: 'abc' })), 400, /spec\.sha256/);
    refused(() => mapWasmPlugin(resource({ url: undefined })), 400, /spec\.url/);
    refused(() => mapWasmPlugin(resource({ surprise: 1 })), 400, /spec\.surprise/);
    refused(() => mapWasmPlugin({ ...(resource({}) as object), kind: 'Deployment' }), 400, /kind/);
    refused(() => mapWasmPlugin(resource({}, {})), 400, /metadata\.name/);
    assert.equal(mapWasmPlugin(resource({ sha256: 'A'.repeat(64) })).sha256, 'a'.repeat(64));
  });
});

describe('WasmPlugin rule mapping', () => {
  it('turns defaultConfig and matchRules into one configuration with _rules_', () => {
    const m = mapWasmPlugin(resource({
      defaultConfig: { greeting: 'hi' },
      matchRules: [
        { ingress: ['route-a'], config: { greeting: 'route' } },
        { domain: ['*.example.com'], service: ['svc:80'], config: { greeting: 'domain' }, configDisable: false, routeType: 'HTTP' },
      ],
    }));
    assert.deepEqual(m.configuration, {
      greeting: 'hi',
      _rules_: [
        { _match_route_: ['route-a'], greeting: 'route' },
        { _match_domain_: ['*.example.com'], _match_service_: ['svc:80'], greeting: 'domain' },
      ],
    });
  });

  it('drops the defaults when defaultConfigDisable is true; nothing at all is {}', () => {
    assert.deepEqual(mapWasmPlugin(resource({ defaultConfig: { a: 1 }, defaultConfigDisable: true })).configuration, {});
    assert.deepEqual(mapWasmPlugin(resource({})).configuration, {});
    assert.deepEqual(mapWasmPlugin(resource({ defaultConfig: { a: 1 }, defaultConfigDisable: true, matchRules: [{ domain: ['x'], config: { b: 2 } }] })).configuration,
      { _rules_: [{ _match_domain_: ['x'], b: 2 }] });
  });

  it('refuses configDisable, non-HTTP route types and rules that match nothing', () => {
    refused(() => mapWasmPlugin(resource({ matchRules: [{ ingress: ['a'], configDisable: true }] })), 400, /matchRules\[0\]\.configDisable.*no per-rule disable/);
    refused(() => mapWasmPlugin(resource({ matchRules: [{ ingress: ['a'], routeType: 'GRPC' }] })), 400, /matchRules\[0\]\.routeType/);
    refused(() => mapWasmPlugin(resource({ matchRules: [{ config: { a: 1 } }] })), 400, /matchRules\[0\]/);
    refused(() => mapWasmPlugin(resource({ matchRules: [{ ingress: ['a'], config: { _match_domain_: ['b'] } }] })), 400, /config\._match_domain_/);
  });
});

describe('import body and version', () => {
  it('reads YAML, JSON, and the {resource, wasm_base64} envelope; one document per request', () => {
    const yaml = 'apiVersion: extensions.higress.io/v1alpha1\nkind: WasmPlugin\nmetadata:\n  name: demo\nspec:\n  url: oci://h/r\n';
    assert.equal((parseImportBody(Buffer.from(yaml), 'application/yaml').resource as { kind: string }).kind, 'WasmPlugin');
    const env = parseImportBody(Buffer.from(JSON.stringify({ resource: { kind: 'WasmPlugin' }, wasm_base64: Buffer.from('abc').toString('base64') })), 'application/json');
    assert.equal(env.wasm?.toString(), 'abc');
    refused(() => parseImportBody(Buffer.from(`${yaml}---\n${yaml}`), 'text/yaml'), 400, /one WasmPlugin/);
    refused(() => parseImportBody(Buffer.from(yaml), 'text/plain'), 415, /application\/yaml/);
    assert.equal(parseResourceDocuments('---\n---\na: 1\n').length, 1);
  });

  it('names the version from the resource, then the tag, then the digest', () => {
    const sha = 'ab'.repeat(32);
    const m = mapWasmPlugin(resource({}));
    assert.equal(importedVersion(m, sha, '1.2.0'), '1.2.0');
    assert.equal(importedVersion(m, sha, 'latest'), 'abababababab');
    assert.equal(importedVersion(m, sha, undefined), 'abababababab');
    assert.equal(importedVersion({ ...m, version: '9.9.9' }, sha, '1.2.0'), '9.9.9');
  });
});

describe('sha256 pin', () => {
  const bytes = Buffer.from('plugin bytes');
  const actual = '3b8a5a4f3c1a2b4e1c1f1f1a0a6d7c0d1b0c6f0e5d4a3b2c1d0e9f8a7b6c5d4e';
  it('passes a matching pin or none, and names both digests on a mismatch', () => {
    const sha = verifySha256(undefined, bytes);
    assert.match(sha, /^[0-9a-f]{64}$/);
    assert.equal(verifySha256(sha, bytes), sha);
    refused(() => verifySha256(actual, bytes), 400, new RegExp(`spec\\.sha256: the resource pins ${actual}, .* has ${sha}`));
  });
});

describe('imagePullPolicy', () => {
  it('follows Istio: unspecified is IfNotPresent except for an oci image tagged latest', () => {
    const policy = (spec: Record<string, unknown>): string => effectivePullPolicy(mapWasmPlugin(resource(spec)));
    assert.equal(policy({}), 'IfNotPresent');
    assert.equal(policy({ url: 'oci://h/p:latest' }), 'Always');
    assert.equal(policy({ url: 'oci://h/p' }), 'Always');
    assert.equal(policy({ url: 'oci://h/p', imagePullPolicy: 'IfNotPresent' }), 'IfNotPresent');
    assert.equal(policy({ url: 'http://h/p.wasm' }), 'IfNotPresent');
    assert.equal(policy({ imagePullPolicy: 'Always' }), 'Always');
    refused(() => mapWasmPlugin(resource({ imagePullPolicy: 'Never' })), 400, /spec\.imagePullPolicy/);
  });
});
