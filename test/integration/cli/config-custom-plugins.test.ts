// `gatehouse config export|diff|import` and custom plugins: a standalone file cannot carry
// their binaries, so export says it leaves them out and import does not delete them.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { SqliteStore } from '../../../src/config-store/sqlite-store.js';

const BIN = join(resolve(fileURLToPath(new URL('../../../../', import.meta.url))), 'bin', 'gatehouse.js');
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-config-custom-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20_000 });

test('import keeps the custom plugins and their blobs; export names the ones it leaves out', async () => {
  const conf = join(dir, 'config.yaml');
  writeFileSync(conf, stringify({ store: { type: 'sqlite', sqlite: { path: 'data/gatehouse.db' } }, data_dir: 'data' }));
  const store = new SqliteStore(join(dir, 'data', 'gatehouse.db'));
  const sha = await store.blobs.putBlob(Buffer.from('\0asm-ish'));
  await store.put('custom_plugins', 'stamp', {
    id: 'stamp', name: 'stamp', stage: 'default', priority: 1, gateway_version: 'any', root_id: 'stamp', fail_strategy: 'FAIL_CLOSE',
    enabled: true, version: '1.0.0', versions: [{ version: '1.0.0', sha256: sha, size: 8, abi: '0.2.1', created_at: 1 }],
  });
  await store.close();

  const file = join(dir, 'routes.yaml');
  writeFileSync(file, stringify({ upstreams: [{ id: 'u1', nodes: { '127.0.0.1:1980': 1 } }] }));
  const diff = cli('config', 'diff', file, '-c', conf);
  assert.equal(diff.status, 0, diff.stderr);
  assert.doesNotMatch(diff.stdout, /custom_plugins/);
  const imported = cli('config', 'import', file, '-c', conf);
  assert.equal(imported.status, 0, imported.stderr);
  assert.match(imported.stdout, /1 added, 0 changed, 0 removed/);

  const reopened = new SqliteStore(join(dir, 'data', 'gatehouse.db'));
  try {
    assert.ok(await reopened.get('custom_plugins', 'stamp'));
    assert.ok(await reopened.blobs.getBlob(sha));
  } finally {
    await reopened.close();
  }
  const exported = cli('config', 'export', '-c', conf);
  assert.equal(exported.status, 0, exported.stderr);
  assert.doesNotMatch(exported.stdout, /stamp/);
  assert.match(exported.stderr, /note: 1 custom plugin\(s\) not exported \(stamp\)/);
});
