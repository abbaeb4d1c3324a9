// What a writer killed with SIGKILL leaves behind in the sqlite store. A kill keeps the
// OS page cache, so this shows transactions are atomic and acknowledged writes are
// committed, not that fsync reaches the disk (synchronous = FULL is what covers power
// loss; that needs a machine to pull the plug on).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { stringify } from 'yaml';
import { SqliteStore } from '../../../src/config-store/sqlite-store.js';
import { startGateway, eventually } from '../../helpers/gateway.js';
import { startUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

const ROOT = resolve(fileURLToPath(new URL('../../../../', import.meta.url)));
const BIN = join(ROOT, 'bin', 'gatehouse.js');
const STORE_MODULE = new URL('../../../src/config-store/sqlite-store.js', import.meta.url).href;
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

// The writer: sequential puts, one line per acknowledged (resolved) write.
const WRITER = `
const [moduleUrl, file, count, port] = process.argv.slice(1);
const { SqliteStore } = await import(moduleUrl);
const store = new SqliteStore(file);
for (let i = 0; i < Number(count); i++) {
  const o = await store.put('routes', 'd' + i, {
    id: 'd' + i, uri: '/d/' + i, desc: 'write ' + i,
    upstream: { nodes: [{ host: '127.0.0.1', port: Number(port), weight: 1 }] },
  });
  process.stdout.write('ack ' + o.id + ' ' + o.modifiedIndex + '\\n');
}
`;

function integrityOk(file: string): void {
  const db = new Database(file, { readonly: true });
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  } finally {
    db.close();
  }
}

test('every write acknowledged before a SIGKILL is in the store, which a running gateway keeps serving', async () => {
  const up = await startUpstream('durable');
  cleanups.push(() => up.close());
  const gw = await startGateway({ store: 'sqlite' });
  cleanups.push(() => gw.stop());
  const file = join(gw.dir, 'data', 'gatehouse.db');

  const writer = spawn(process.execPath, ['--input-type=module', '-e', WRITER, STORE_MODULE, file, '1000000', String(up.port)],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const acked = new Map<string, number>();
  let stderr = '';
  let buffered = '';
  let killed = false;
  writer.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
  writer.stdout.on('data', (c: Buffer) => {
    buffered += c.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      if (!line.startsWith('ack ')) continue;
      const [, id, rev] = line.split(' ');
      acked.set(id!, Number(rev));
    }
    // mid-way: the writer is busy committing the next put when the signal lands
    if (!killed && acked.size >= 300) {
      killed = true;
      writer.kill('SIGKILL');
    }
  });
  const closed = new Promise<string | null>((res) => writer.on('close', (_code, signal) => res(signal)));
  const guard = setTimeout(() => writer.kill('SIGKILL'), 60_000);
  const signal = await closed;
  clearTimeout(guard);
  assert.equal(signal, 'SIGKILL', `the writer ended on its own: ${stderr}`);
  assert.ok(acked.size >= 300, `only ${acked.size} writes were acknowledged: ${stderr}`);

  integrityOk(file);
  const store = new SqliteStore(file);
  cleanups.push(() => store.close());
  const state = await store.load();
  const routes = new Map(state.objects.filter((o) => o.kind === 'routes').map((o) => [o.id, o]));
  for (const [id, rev] of acked) {
    const o = routes.get(id);
    assert.ok(o !== undefined, `acknowledged write ${id} (revision ${rev}) is missing`);
    assert.equal(o.modifiedIndex, rev);
  }
  // what is there is a prefix of the writes, each one whole; at most the writes whose
  // acknowledgement was still on its way are beyond the acknowledged ones
  const n = routes.size;
  for (let i = 0; i < n; i++) {
    const o = routes.get(`d${i}`);
    assert.ok(o !== undefined, `d${i} is missing but ${n} routes are stored`);
    assert.equal(o.value.uri, `/d/${i}`);
    assert.equal(o.value.desc, `write ${i}`);
  }
  assert.equal(state.revision, Math.max(...[...routes.values()].map((o) => o.modifiedIndex)));

  // the store keeps working after the crash, and the gateway serves the last write
  const next = await store.put('routes', 'after-crash', { id: 'after-crash', uri: '/after' });
  assert.equal(next.modifiedIndex, state.revision + 1);
  await eventually(async () => (await get(`${gw.url}/d/${n - 1}`)).status === 200, 200, 50);
  assert.equal(gw.proc.exitCode, null);
});

test('an import killed with SIGKILL leaves the previous configuration or the whole new one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-durability-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const conf = join(dir, 'config.yaml');
  const file = join(dir, 'data', 'gatehouse.db');
  writeFileSync(conf, stringify({ store: { type: 'sqlite', sqlite: { path: file } }, data_dir: join(dir, 'data') }));
  // Two files with the same ids and different uris, so each import rewrites every route;
  // the routes are big (~13 MB written per import) so the transaction lasts long enough
  // for a kill to land inside it.
  const count = 2000;
  const files = ['a', 'b'].map((tag) => {
    const f = join(dir, `${tag}.yaml`);
    writeFileSync(f, stringify({
      upstreams: [{ id: 'u1', nodes: { '127.0.0.1:1980': 1 } }],
      routes: Array.from({ length: count }, (_, i) => ({
        id: `r${i}`, upstream_id: 'u1', uris: Array.from({ length: 24 }, (_, j) => `/${tag}/${i}/${j}/${'p'.repeat(40)}`),
      })),
    }));
    return { tag, file: f };
  });
  /** Which file the store holds ('empty' before the first import); fails on a mix of two. */
  const tagOf = async (): Promise<string> => {
    const store = new SqliteStore(file);
    try {
      integrityOk(file);
      const routes = await store.list('routes');
      if (routes.length === 0) return 'empty';
      const tags = new Set(routes.flatMap((r) => (r.value.uris as string[]).map((u) => u.split('/')[1])));
      assert.equal(tags.size, 1, `a mix of two imports is stored: ${[...tags].join(', ')}`);
      assert.equal(routes.length, count);
      return [...tags][0]!;
    } finally {
      // the last connection to close checkpoints and removes the -wal file, which the
      // next attempt watches to see its transaction under way
      await store.close();
    }
  };
  const walSize = (): number => { try { return statSync(`${file}-wal`).size; } catch { return 0; } };

  /** Runs an import and kills it when `killWhen` first holds (polled every millisecond). */
  const importAndKill = async (target: string, killWhen: (elapsedMs: number) => boolean): Promise<void> => {
    const importer = spawn(process.execPath, [BIN, 'config', 'import', target, '-c', conf], { stdio: 'ignore' });
    const closed = new Promise<void>((res) => importer.on('close', () => res()));
    const started = Date.now();
    const poll = setInterval(() => {
      if (killWhen(Date.now() - started)) {
        clearInterval(poll);
        importer.kill('SIGKILL');
      }
    }, 1);
    const guard = setTimeout(() => importer.kill('SIGKILL'), 60_000);
    await closed;
    clearInterval(poll);
    clearTimeout(guard);
  };

  const [a, b] = files as [typeof files[0], typeof files[0]];
  let current = await tagOf();
  const attempts: { target: typeof a; what: string; killWhen: (elapsedMs: number) => boolean }[] = [
    { target: a, what: 'never', killWhen: () => false },
    { target: b, what: 'while it parses the file', killWhen: (ms) => ms >= 150 },
    { target: b, what: 'inside its transaction (the WAL is growing)', killWhen: () => walSize() > 1_000_000 },
    { target: b, what: 'later inside its transaction', killWhen: () => walSize() > 4_000_000 },
    { target: b, what: 'never', killWhen: () => false },
  ];
  for (const { target, what, killWhen } of attempts) {
    await importAndKill(target.file, killWhen);
    const now = await tagOf();
    assert.ok(now === current || now === target.tag, `after a kill ${what}, the store holds "${now}"`);
    if (what === 'never') assert.equal(now, target.tag, 'an import that was not killed is applied');
    current = now;
  }
});
