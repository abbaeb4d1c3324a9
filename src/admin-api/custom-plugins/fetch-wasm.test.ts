import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { higressLayer, tarOf } from '../../../test/helpers/oci-image.js';
import { AdminError } from '../errors.js';
import { extractPluginWasm, parseOciUrl, registryBaseUrl, selectFromIndex, selectLayers, WASM_LAYER } from './fetch-wasm.js';

const wasm = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x2a]);

describe('oci:// references', () => {
  it('parses host, port, repository, tag and digest', () => {
    assert.deepEqual(parseOciUrl('oci://127.0.0.1:5000/plugins/demo:1.0.0'),
      { registry: '127.0.0.1:5000', repository: 'plugins/demo', reference: '1.0.0', tag: '1.0.0' });
    assert.deepEqual(parseOciUrl('oci://registry.example.com/demo'),
      { registry: 'registry.example.com', repository: 'demo', reference: 'latest', tag: 'latest' });
    const digest = `sha256:${'a'.repeat(64)}`;
    assert.deepEqual(parseOciUrl(`oci://h:1/demo@${digest}`), { registry: 'h:1', repository: 'demo', reference: digest });
    assert.throws(() => parseOciUrl('oci://hostonly'), (e: unknown) => e instanceof AdminError && /spec\.url/.test(e.message));
    assert.throws(() => parseOciUrl('oci://h/Demo'), /spec\.url/);
  });

  it('speaks plain http only to loopback registries', () => {
    assert.equal(registryBaseUrl('127.0.0.1:5000'), 'http://127.0.0.1:5000');
    assert.equal(registryBaseUrl('localhost:5000'), 'http://localhost:5000');
    assert.equal(registryBaseUrl('[::1]:5000'), 'http://[::1]:5000');
    assert.equal(registryBaseUrl('registry.example.com'), 'https://registry.example.com');
    assert.equal(registryBaseUrl('127.example.com'), 'https://127.example.com');
  });
});

describe('manifest and layer selection', () => {
  const d = (mediaType: string, n: string): { mediaType: string; digest: string } => ({ mediaType, digest: `sha256:${n.repeat(64)}` });
  it('takes the first manifest of an index', () => {
    assert.equal(selectFromIndex({ manifests: [d('application/vnd.oci.image.manifest.v1+json', '1'), d('x', '2')] }).digest, `sha256:${'1'.repeat(64)}`);
    assert.throws(() => selectFromIndex({ manifests: [] }), /no manifest/);
  });
  it('prefers the wasm layer; otherwise tar layers from the top', () => {
    const tarA = d('application/vnd.oci.image.layer.v1.tar+gzip', 'a');
    const tarB = d('application/vnd.docker.image.rootfs.diff.tar.gzip', 'b');
    const w = d(WASM_LAYER, 'c');
    assert.deepEqual(selectLayers({ layers: [tarA, w] }), [w]);
    assert.deepEqual(selectLayers({ layers: [tarA, tarB] }), [tarB, tarA]);
    assert.throws(() => selectLayers({ layers: [d('application/json', 'e')] }), /no wasm layer/);
  });
});

describe('plugin.wasm from a tar layer', () => {
  it('finds plugin.wasm in a gzipped or plain tar, with or without ./', () => {
    assert.deepEqual(extractPluginWasm(higressLayer(wasm)), wasm);
    assert.deepEqual(extractPluginWasm(tarOf([['README', Buffer.alloc(700, 1)], ['plugin.wasm', wasm]])), wasm);
    assert.deepEqual(extractPluginWasm(gzipSync(tarOf([['/plugin.wasm', wasm]]))), wasm);
  });
  it('is undefined when there is none, and refuses a broken gzip', () => {
    assert.equal(extractPluginWasm(tarOf([['other.wasm', wasm], ['dir/plugin.wasm', wasm]])), undefined);
    assert.throws(() => extractPluginWasm(Buffer.from([0x1f, 0x8b, 1, 2, 3])), /not valid gzip/);
  });
});
