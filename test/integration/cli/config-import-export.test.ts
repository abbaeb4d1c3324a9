import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { startGateway, eventually } from '../../helpers/gateway.js';
import { startUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

const BIN = join(resolve(fileURLToPath(new URL('../../../../', import.meta.url))), 'bin', 'gatehouse.js');
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

interface CliResult { status: number | null; stdout: string; stderr: string }

// Asynchronous, so the test process keeps serving its upstream while the CLI runs.
function cli(...args: string[]): Promise<CliResult> {
  return new Promise((res, reject) => {
    const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    p.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`gatehouse ${args.join(' ')} timed out`)); }, 20_000);
    p.on('close', (status) => { clearTimeout(timer); res({ status, stdout, stderr }); });
  });
}

/** A folder with a node config on a sqlite store (no gateway running). */
function sqliteNode(): { dir: string; conf: string; write(name: string, doc: unknown): string } {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-config-cli-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const conf = join(dir, 'config.yaml');
  writeFileSync(conf, stringify({ store: { type: 'sqlite', sqlite: { path: 'data/gatehouse.db' } }, data_dir: 'data' }));
  return {
    dir, conf,
    write(name, doc) {
      const file = join(dir, name);
      writeFileSync(file, typeof doc === 'string' ? doc : stringify(doc));
      return file;
    },
  };
}

const FULL = {
  upstreams: [{ id: 'u1', nodes: { '127.0.0.1:1980': 1 } }],
  services: [{ id: 's1', upstream_id: 'u1' }],
  routes: [
    { id: 'r1', uri: '/one', upstream_id: 'u1' },
    { id: 'r2', uris: ['/two', '/deux'], service_id: 's1', methods: ['GET'] },
    { uri: '/no-id', upstream_id: 'u1' },
  ],
  consumers: [{ username: 'alice', desc: 'first', credentials: [{ id: 'c1', plugins: { 'key-auth': { key: 'k1' } } }] }],
  global_rules: [{ id: 'g1', plugins: {} }],
};

test('import, export and re-import of the export is a no-op with the same ids', async () => {
  const node = sqliteNode();
  const imported = await cli('config', 'import', node.write('full.yaml', FULL), '-c', node.conf);
  assert.equal(imported.status, 0, imported.stderr);
  assert.match(imported.stdout, /8 added, 0 changed, 0 removed/);

  const exported = await cli('config', 'export', '-c', node.conf);
  assert.equal(exported.status, 0, exported.stderr);
  const doc = parse(exported.stdout) as Record<string, Record<string, unknown>[]>;
  assert.deepEqual(doc.routes!.map((r) => r.id), ['r1', 'r2', 'arr_3']);
  assert.equal(doc.consumers![0]!.username, 'alice');
  assert.deepEqual(doc.consumers![0]!.credentials, [{ id: 'c1', plugins: { 'key-auth': { key: 'k1' } } }]);
  assert.deepEqual(doc.global_rules!.map((r) => r.id), ['g1']);

  const again = node.write('exported.yaml', exported.stdout);
  const diff = await cli('config', 'diff', again, '-c', node.conf);
  assert.equal(diff.status, 0, diff.stderr);
  assert.equal(diff.stdout, 'no differences\n');
  const reimport = await cli('config', 'import', again, '-c', node.conf);
  assert.equal(reimport.status, 0, reimport.stderr);
  assert.match(reimport.stdout, /no changes \(revision 8\)/);
  assert.equal((await cli('config', 'export', '-c', node.conf)).stdout, exported.stdout);
});

test('an invalid file is refused with the object and field named, and the store is untouched', async () => {
  const node = sqliteNode();
  assert.equal((await cli('config', 'import', node.write('good.yaml', FULL), '-c', node.conf)).status, 0);
  const before = (await cli('config', 'export', '-c', node.conf)).stdout;

  const badField = await cli('config', 'import', node.write('bad.yaml', {
    upstreams: FULL.upstreams, routes: [{ id: 'ok', uri: '/ok', upstream_id: 'u1' }, { id: 'r9', uri: 42 }],
  }), '-c', node.conf);
  assert.equal(badField.status, 1);
  assert.match(badField.stderr, /routes\[1\] \(id "r9"\).*"uri"/);

  const dangling = await cli('config', 'import', node.write('dangling.yaml', {
    routes: [{ id: 'r1', uri: '/one', upstream_id: 'missing' }],
  }), '-c', node.conf);
  assert.equal(dangling.status, 1);
  assert.match(dangling.stderr, /routes\[0\] \(id "r1"\).*upstream id \[missing\]/);

  const notYaml = await cli('config', 'import', node.write('broken.yaml', 'routes: [\n'), '-c', node.conf);
  assert.equal(notYaml.status, 1);
  assert.match(notYaml.stderr, /invalid YAML/);

  assert.equal((await cli('config', 'export', '-c', node.conf)).stdout, before);
});

test('diff lists what import would add, change and remove, and writes nothing', async () => {
  const node = sqliteNode();
  assert.equal((await cli('config', 'import', node.write('a.yaml', FULL), '-c', node.conf)).status, 0);
  const next = node.write('b.yaml', {
    upstreams: FULL.upstreams,
    routes: [{ id: 'r1', uri: '/one-changed', upstream_id: 'u1' }, { id: 'r4', uri: '/four', upstream_id: 'u1' }],
  });
  const diff = await cli('config', 'diff', next, '-c', node.conf);
  assert.equal(diff.status, 0, diff.stderr);
  const lines = diff.stdout.trim().split('\n');
  assert.deepEqual(lines.filter((l) => l.startsWith('+ ')), ['+ routes/r4']);
  assert.deepEqual(lines.filter((l) => l.startsWith('~ ')), ['~ routes/r1']);
  assert.deepEqual(lines.filter((l) => l.startsWith('- ')).sort(),
    ['- consumers/alice', '- credentials/alice/c1', '- global_rules/g1', '- routes/arr_3', '- routes/r2', '- services/s1']);
  assert.equal(lines.at(-1), '1 to add, 1 to change, 6 to remove');
  // nothing was written: the same diff again, and the store still serves the first file
  assert.equal((await cli('config', 'diff', next, '-c', node.conf)).stdout, diff.stdout);
  const exported = parse((await cli('config', 'export', '-c', node.conf)).stdout) as { routes: { uri?: string }[] };
  assert.equal(exported.routes[0]!.uri, '/one');
});

test('import refuses a node on the standalone store and points at its file', async () => {
  const node = sqliteNode();
  const standalone = node.write('gatehouse.yaml', { routes: [] });
  writeFileSync(node.conf, stringify({ store: { type: 'standalone', standalone: { file: standalone } } }));
  const r = await cli('config', 'import', node.write('x.yaml', FULL), '-c', node.conf);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /store\.type standalone.*edit .*gatehouse\.yaml/);
  assert.equal(readFileSync(standalone, 'utf8'), 'routes: []\n');
});

test('an import into a running gateway is served without a restart', async () => {
  const up = await startUpstream('imported');
  cleanups.push(() => up.close());
  const gw = await startGateway({ store: 'sqlite', workers: 2 });
  cleanups.push(() => gw.stop());
  assert.equal((await get(`${gw.url}/imported`)).status, 404);

  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-config-live-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'live.yaml');
  writeFileSync(file, stringify({
    upstreams: [{ id: 'up', nodes: { [`127.0.0.1:${up.port}`]: 1 } }],
    routes: [{ id: 'live', uri: '/imported', upstream_id: 'up' }],
  }));
  const r = await cli('config', 'import', file, '-c', gw.configFile);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /2 added/);

  // every worker must serve it: several requests over fresh connections
  await eventually(async () => {
    for (let i = 0; i < 4; i++) {
      const res = await get(`${gw.url}/imported`, { headers: { connection: 'close' } });
      if (res.status !== 200 || res.headers['x-upstream'] !== 'imported') return false;
    }
    return true;
  }, 200, 50);
  assert.equal(gw.proc.exitCode, null);
});
