import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { adminClient } from '../admin/client.js';

// A module in plugin_dirs named like a built-in must not replace it unless the node
// config says so (`plugin_overrides`): start and plugin reload refuse it otherwise.

const CUSTOM_CORS = "export default { name: 'cors', version: 77, stage: 'default', priority: 1, schema: { type: 'object' } };\n";
const cleanup: (() => Promise<void>)[] = [];

async function pluginDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-override-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'package.json'), '{"type":"module"}\n');
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

after(async () => {
  for (const c of cleanup) await c();
});

test('start is refused when a plugin_dirs module takes a built-in name', async () => {
  const dir = await pluginDir({ 'cors.js': CUSTOM_CORS });
  await assert.rejects(startGateway({ extra: { plugin_dirs: [dir] } }), (err: Error) => {
    assert.match(err.message, /gateway exited with/);
    assert.match(err.message, /plugin file .*cors\.js is named \\?"cors\\?", the name of the built-in plugin/);
    return true;
  });
});

test('start is allowed with plugin_overrides, and the custom module serves', async () => {
  const dir = await pluginDir({ 'cors.js': CUSTOM_CORS });
  const gw = await startGateway({ store: 'sqlite', extra: { plugin_dirs: [dir], plugin_overrides: ['cors'] } });
  try {
    const call = adminClient(gw);
    assert.equal((await call('GET', '/plugins/cors?detail=true')).body.version, 77);
  } finally {
    await gw.stop();
  }
});

test('a reload that would bring in a clash is refused and keeps the running plugins', async () => {
  const dir = await pluginDir({});
  const gw: Gateway = await startGateway({ store: 'sqlite', extra: { plugin_dirs: [dir] } });
  try {
    const call = adminClient(gw);
    const before = (await call('GET', '/plugins/cors?detail=true')).body.version;
    await writeFile(join(dir, 'cors.js'), CUSTOM_CORS);
    const r = await call('PUT', '/plugins/reload');
    assert.equal(r.status, 500);
    assert.match(r.body.error_msg, /failed to reload plugins.*cors\.js is named "cors", the name of the built-in plugin/);
    assert.equal((await call('GET', '/plugins/cors?detail=true')).body.version, before);
    // the same file, declared on purpose in config.yaml, is taken by the next reload
    const conf = parse(await readFile(gw.configFile, 'utf8')) as Record<string, unknown>;
    conf.plugin_overrides = ['cors'];
    await writeFile(gw.configFile, stringify(conf));
    assert.equal((await call('PUT', '/plugins/reload')).status, 200);
    assert.equal((await call('GET', '/plugins/cors?detail=true')).body.version, 77);
  } finally {
    await gw.stop();
  }
});
