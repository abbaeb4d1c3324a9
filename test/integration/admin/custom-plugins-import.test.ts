// Importing Higress WasmPlugin resources (issue 11 §5) through the real gateway (sqlite
// store): binaries pulled from a real OCI registry on loopback (Debian's docker-registry,
// pushed to over the registry HTTP API) as a wasm layer and as a Higress tar+gzip layer,
// and from a local http server; the resource's config and matchRules served as a global rule.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGateway, eventually, type Gateway } from '../../helpers/gateway.js';
import { get } from '../../helpers/http.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { wasmFixture } from '../../helpers/wasm-fixtures.js';
import { DOCKER_MANIFEST_TYPE, higressLayer, OCI_INDEX_TYPE, sha256Hex, TAR_GZIP_LAYER_TYPE, WASM_LAYER_TYPE } from '../../helpers/oci-image.js';
import { registryMissing, startRegistry, type TestRegistry } from '../../helpers/oci-registry.js';
import { adminClient, routeTo, type AdminCall, type AdminReply } from './client.js';

const ADMIN = 'wasm-import-key-0001';
const VIEWER = 'wasm-import-viewer-0001';
const missing = registryMissing();

const wasmPluginYaml = (name: string, url: string, extra = ''): string => `apiVersion: extensions.higress.io/v1alpha1
kind: WasmPlugin
metadata:
  name: ${name}
  namespace: higress-system
spec:
  url: ${url}
${extra}`;

describe('custom plugins: import Higress WasmPlugin resources', { skip: missing }, () => {
  let gw: Gateway;
  let upstream: TestUpstream;
  let registry: TestRegistry;
  let files: http.Server;
  let filesUrl: string;
  const served = new Map<string, Buffer>();
  let call: AdminCall;

  before(async () => {
    upstream = await startUpstream();
    registry = await startRegistry();
    files = http.createServer((req, res) => {
      if (req.url === '/huge.wasm') {
        // declares more than the 50 MB cap; the importer must not read it
        res.writeHead(200, { 'content-length': String(60 * 1024 * 1024) });
        res.write(Buffer.alloc(1024));
        return;
      }
      const body = served.get(req.url ?? '');
      res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/wasm' });
      res.end(body);
    });
    await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
    filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
    gw = await startGateway({ store: 'sqlite', statusListener: false, workers: 1, adminKeys: [{ name: 'ops', key: ADMIN }, { name: 'look', key: VIEWER, role: 'viewer' }] });
    call = adminClient(gw);
    for (const name of ['route-a', 'route-b']) {
      const r = await call('PUT', `/routes/${name}`, { ...routeTo(`/${name}`, upstream.port), name });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
  });
  after(async () => {
    await gw?.stop();
    await upstream?.close();
    await registry?.stop();
    files?.closeAllConnections();
    await new Promise((r) => files?.close(r));
  });

  const importYaml = (yaml: string, key?: string): Promise<AdminReply> =>
    call('POST', '/custom_plugins/import', undefined, { raw: yaml, headers: { 'content-type': 'application/yaml' }, ...(key !== undefined ? { key } : {}) });

  const headerOf = async (path: string, header: string, host?: string): Promise<string | undefined> => {
    const r = await get(`${gw.url}${path}`, host !== undefined ? { headers: { host } } : {});
    if (r.status !== 200) return `status ${r.status}`;
    return (JSON.parse(r.body) as { headers: Record<string, string> }).headers[header];
  };

  test('oci:// wasm layer: published with the mapped fields, config and matchRules served to every route by a global rule', async () => {
    const bytes = Buffer.from(await wasmFixture('set-header'));
    await registry.push('plugins/set-header', '1.0.0', [{ mediaType: WASM_LAYER_TYPE, bytes }],
      { configType: 'application/vnd.module.wasm.config.v1+json' });
    const res = await importYaml(wasmPluginYaml('set-header', `oci://${registry.host}/plugins/set-header:1.0.0`, `  phase: AUTHN
  priority: 310
  failStrategy: FAIL_OPEN
  sha256: ${sha256Hex(bytes)}
  defaultConfig:
    who: global
  matchRules:
  - domain: [api.example.com]
    config:
      who: domain
  - ingress: [route-b]
    config:
      who: route
`));
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(res.body, {
      plugin: { id: 'set-header', version: '1.0.0', sha256: sha256Hex(bytes), action: 'created' },
      global_rule: { id: 'wasmplugin-set-header', action: 'created' },
    });
    const shown = (await call('GET', '/custom_plugins/set-header')).body.value;
    assert.equal(shown.stage, 'authorization', 'AUTHN runs first in Higress: our first stage');
    assert.equal(shown.priority, 310);
    assert.equal(shown.fail_strategy, 'FAIL_OPEN');
    assert.equal(shown.root_id, 'set-header');
    assert.equal(shown.enabled, true);
    const rule = (await call('GET', '/global_rules/wasmplugin-set-header')).body.value;
    assert.deepEqual(rule.plugins, { 'set-header': { who: 'global', _rules_: [
      { _match_domain_: ['api.example.com'], who: 'domain' }, { _match_route_: ['route-b'], who: 'route' },
    ] } });
    await eventually(async () => (await headerOf('/route-a', 'x-wasm')) === '{"who":"global"}', 60, 50);
    assert.equal(await headerOf('/route-a', 'x-wasm', 'api.example.com'), '{"who":"domain"}');
    assert.equal(await headerOf('/route-b', 'x-wasm'), '{"who":"route"}');
  });

  test('re-import: the same resource is a no-op 200; a new binary while enabled is a 409', async () => {
    const url = `oci://${registry.host}/plugins/set-header:1.0.0`;
    const again = await importYaml(wasmPluginYaml('set-header', url, `  phase: AUTHN
  priority: 310
  failStrategy: FAIL_OPEN
  defaultConfig:
    who: global
  matchRules:
  - domain: [api.example.com]
    config:
      who: domain
  - ingress: [route-b]
    config:
      who: route
`));
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.plugin.action, 'unchanged');
    assert.equal(again.body.global_rule.action, 'unchanged');
    // the serving version is the one named: IfNotPresent pulls nothing (the registry named is unreachable), Always must pull
    const unreachable = 'oci://127.0.0.1:9/plugins/set-header:1.0.0';
    const present = await importYaml(wasmPluginYaml('set-header', unreachable, '  imagePullPolicy: IfNotPresent\n  phase: AUTHN\n  priority: 310\n  failStrategy: FAIL_OPEN\n'));
    assert.equal(present.status, 200, present.text);
    assert.equal(present.body.plugin.action, 'unchanged');
    assert.equal(present.body.global_rule.action, 'updated');
    const always = await importYaml(wasmPluginYaml('set-header', unreachable, '  imagePullPolicy: Always\n'));
    assert.equal(always.status, 400, always.text);
    assert.match(always.body.error_msg, /spec\.url: cannot fetch/);
    await registry.push('plugins/set-header', '2.0.0', [{ mediaType: WASM_LAYER_TYPE, bytes: Buffer.from(await wasmFixture('echo-config')) }]);
    const newer = await importYaml(wasmPluginYaml('set-header', `oci://${registry.host}/plugins/set-header:2.0.0`));
    assert.equal(newer.status, 409, newer.text);
    assert.match(newer.body.error_msg, /set-header is enabled: disable it first/);
    assert.equal((await call('GET', '/custom_plugins/set-header')).body.value.version, '1.0.0');
    // disabled, the new binary is published as a new version (and the plugin stays disabled)
    assert.equal((await call('PATCH', '/custom_plugins/set-header', { enabled: false })).status, 200);
    const published = await importYaml(wasmPluginYaml('set-header', `oci://${registry.host}/plugins/set-header:2.0.0`));
    assert.equal(published.status, 200, published.text);
    assert.equal(published.body.plugin.action, 'published');
    assert.equal(published.body.global_rule.action, 'unchanged', 'the IfNotPresent import above already bound the empty config');
    const shown = (await call('GET', '/custom_plugins/set-header')).body.value;
    assert.deepEqual([shown.version, shown.enabled, shown.versions.length], ['2.0.0', false, 2]);
    assert.deepEqual((await call('GET', '/global_rules/wasmplugin-set-header')).body.value.plugins, { 'set-header': {} });
  });

  test('oci:// Higress image (tar+gzip layer holding plugin.wasm) by digest: version from the sha256, pluginName is the root id', async () => {
    const bytes = Buffer.from(await wasmFixture('echo-config'));
    const digest = await registry.push('plugins/echo', 'latest', [{ mediaType: TAR_GZIP_LAYER_TYPE, bytes: higressLayer(bytes) }]);
    const res = await importYaml(wasmPluginYaml('echo', `oci://${registry.host}/plugins/echo@${digest}`, `  pluginName: echo-root
  phase: STATS
  defaultConfig:
    mode: tar
`));
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.plugin.version, sha256Hex(bytes).slice(0, 12));
    const shown = (await call('GET', '/custom_plugins/echo')).body.value;
    assert.equal(shown.root_id, 'echo-root');
    assert.equal(shown.stage, 'statistics');
    assert.equal(shown.priority, 0);
    await eventually(async () => (await headerOf('/route-a', 'x-config')) === '{"mode":"tar"}', 60, 50);
  });

  test('oci:// index: the first manifest is followed (a Docker v2 manifest with a Docker tar+gzip layer)', async () => {
    const bytes = Buffer.from(await wasmFixture('set-header', { marker: '0.2.0' }));
    const manifestDigest = await registry.push('plugins/indexed', 'amd64', [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', bytes: higressLayer(bytes) }],
      { manifestType: DOCKER_MANIFEST_TYPE, configType: 'application/vnd.docker.container.image.v1+json' });
    const manifestSize = (await (await fetch(`http://${registry.host}/v2/plugins/indexed/manifests/amd64`, { headers: { accept: DOCKER_MANIFEST_TYPE } })).arrayBuffer()).byteLength;
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX_TYPE, manifests: [
      { mediaType: DOCKER_MANIFEST_TYPE, digest: manifestDigest, size: manifestSize, platform: { architecture: 'amd64', os: 'linux' } },
    ] }));
    await registry.pushManifest('plugins/indexed', '3.1.0', index, OCI_INDEX_TYPE);
    const res = await importYaml(wasmPluginYaml('indexed', `oci://${registry.host}/plugins/indexed:3.1.0`,
      `  sha256: ${sha256Hex(bytes)}\n  matchRules:\n  - ingress: [route-b]\n`));
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.plugin.version, '3.1.0');
    const shown = (await call('GET', '/custom_plugins/indexed')).body.value;
    assert.equal(shown.versions[0].abi, '0.2.0');
  });

  test('http(s)://: fetched, checked against spec.sha256 (400 naming both digests), capped at 50 MB', async () => {
    const bytes = Buffer.from(await wasmFixture('echo-config'));
    served.set('/echo2.wasm', bytes);
    const wrong = 'f'.repeat(64);
    const bad = await importYaml(wasmPluginYaml('echo2', `${filesUrl}/echo2.wasm`, `  sha256: ${wrong}\n`));
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.body.error_msg, /spec\.sha256/);
    assert.ok(bad.body.error_msg.includes(wrong) && bad.body.error_msg.includes(sha256Hex(bytes)), bad.body.error_msg);
    assert.equal((await call('GET', '/custom_plugins/echo2')).status, 404);
    const ok = await importYaml(wasmPluginYaml('echo2', `${filesUrl}/echo2.wasm`, `  sha256: ${sha256Hex(bytes)}\n`));
    assert.equal(ok.status, 201, ok.text);
    const huge = await importYaml(wasmPluginYaml('huge', `${filesUrl}/huge.wasm`));
    assert.equal(huge.status, 413, huge.text);
    assert.match(huge.body.error_msg, /50 MB/);
    const gone = await importYaml(wasmPluginYaml('gone', `${filesUrl}/missing.wasm`));
    assert.equal(gone.status, 400, gone.text);
    assert.match(gone.body.error_msg, /spec\.url.*404/);
  });

  test('refusals: file:// through the API, imagePullSecret, configDisable, a built-in name; viewer and anonymous keys refused', async () => {
    const file = await importYaml(wasmPluginYaml('local', 'file:///etc/passwd'));
    assert.equal(file.status, 400);
    assert.match(file.body.error_msg, /spec\.url: file:\/\/ urls are not read by the Admin API/);
    const secret = await importYaml(wasmPluginYaml('sec', `oci://${registry.host}/plugins/echo:latest`, '  imagePullSecret: creds\n'));
    assert.equal(secret.status, 400);
    assert.match(secret.body.error_msg, /spec\.imagePullSecret/);
    const disable = await importYaml(wasmPluginYaml('dis', `oci://${registry.host}/plugins/echo:latest`,
      '  matchRules:\n  - ingress: [route-a]\n    configDisable: true\n'));
    assert.equal(disable.status, 400);
    assert.match(disable.body.error_msg, /spec\.matchRules\[0\]\.configDisable/);
    const longName = await importYaml(wasmPluginYaml('x'.repeat(60), `${filesUrl}/echo2.wasm`));
    assert.equal(longName.status, 400, longName.text);
    assert.match(longName.body.error_msg, /metadata\.name: invalid custom plugin id .*1 to 53 characters/);
    const builtIn = await importYaml(wasmPluginYaml('key-auth', `${filesUrl}/echo2.wasm`));
    assert.equal(builtIn.status, 403, builtIn.text);
    const json = await call('POST', '/custom_plugins/import', { apiVersion: 'extensions.higress.io/v1alpha1', kind: 'WasmPlugin', metadata: { name: 'j' }, spec: { url: `${filesUrl}/echo2.wasm`, phase: 'LATE' } });
    assert.equal(json.status, 400);
    assert.match(json.body.error_msg, /spec\.phase/);
    const empty = await importYaml('');
    assert.equal(empty.status, 400);
    const viewer = await importYaml(wasmPluginYaml('seen', `${filesUrl}/echo2.wasm`), VIEWER);
    assert.equal(viewer.status, 403, viewer.text);
    const nobody = await call('POST', '/custom_plugins/import', undefined, { raw: wasmPluginYaml('anon', `${filesUrl}/echo2.wasm`), key: null, headers: { 'content-type': 'application/yaml' } });
    assert.equal(nobody.status, 401, nobody.text);
    assert.equal((await call('GET', '/custom_plugins/seen')).status, 404);
    // only POST is the import: other methods on the path still address a plugin named "import"
    const named = await call('GET', '/custom_plugins/import');
    assert.equal(named.status, 404, named.text);
    assert.match(named.body.error_msg, /custom plugin import not found/);
  });
});
