import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { localWasmPath } from './plugin-import.js';

describe('plugin import: file:// urls', () => {
  it('resolves relative paths against the YAML file and keeps absolute ones', () => {
    assert.equal(localWasmPath('file://bin/p.wasm', '/srv/plugins/all.yaml'), '/srv/plugins/bin/p.wasm');
    assert.equal(localWasmPath('file://./p.wasm', '/srv/plugins/all.yaml'), '/srv/plugins/p.wasm');
    assert.equal(localWasmPath('file:///data/wasmplugins/p.wasm', '/srv/plugins/all.yaml'), '/data/wasmplugins/p.wasm');
    assert.equal(localWasmPath('file://my%20plugin.wasm', '/srv/all.yaml'), '/srv/my plugin.wasm');
  });
});
