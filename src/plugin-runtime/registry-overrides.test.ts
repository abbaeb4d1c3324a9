import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PluginRegistry } from './registry.js';

// A module in plugin_dirs named like a built-in used to replace it silently.

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-overrides-'));
  await writeFile(join(dir, 'package.json'), '{"type":"module"}\n');
  await writeFile(join(dir, 'my-cors.js'),
    "export default { name: 'cors', version: 99, stage: 'default', priority: 1, schema: { type: 'object' } };\n");
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('a custom module with a built-in name refuses to load, naming the file and the built-in', async () => {
  await assert.rejects(PluginRegistry.load({ dirs: [dir] }), (err: Error) => {
    assert.match(err.message, /plugin file .*my-cors\.js is named "cors", the name of the built-in plugin .*cors\.js/);
    assert.match(err.message, /plugin_overrides/);
    return true;
  });
});

test('listed in overrides, the custom module replaces the built-in', async () => {
  const reg = await PluginRegistry.load({ dirs: [dir], overrides: ['cors'] });
  assert.equal(reg.get('cors')!.plugin.version, 99);
  assert.ok(reg.has('key-auth'));
});

test('without any clash, overrides change nothing', async () => {
  const reg = await PluginRegistry.load({ overrides: ['cors'] });
  assert.notEqual(reg.get('cors')!.plugin.version, 99);
});
