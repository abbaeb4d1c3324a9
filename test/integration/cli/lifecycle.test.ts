import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { startGateway, eventually, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

const BIN = join(resolve(fileURLToPath(new URL('../../../../', import.meta.url))), 'bin', 'gatehouse.js');
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

function cli(...args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
}

async function setup(workers = 1): Promise<{ gw: Gateway; up: TestUpstream }> {
  const up = await startUpstream('a');
  cleanups.push(() => up.close());
  const gw = await startGateway({ workers, node: { drain_timeout: 10 }, config: { routes: [{ id: 'r', uri: '/*', upstream: { nodes: { [`127.0.0.1:${up.port}`]: 1 } } }] } });
  cleanups.push(() => gw.stop());
  return { gw, up };
}

test('quit lets a slow request in flight finish, then exits', async () => {
  const { gw } = await setup();
  const slow = request(gw.url + '/slow?ms=1500');
  await new Promise((r) => setTimeout(r, 300));
  const r = cli('quit', '-c', gw.configFile);
  assert.equal(r.status, 0, r.stderr);
  const res = await slow;
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), 'slow 1500');
  assert.equal(await gw.exited, 0);
});

test('SIGTERM drains too, and new connections are refused while draining', async () => {
  const { gw } = await setup();
  const slow = request(gw.url + '/slow?ms=1000');
  await new Promise((r) => setTimeout(r, 200));
  gw.signal('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  await assert.rejects(request(gw.url + '/hello', { headers: { connection: 'close' } }).then((x) => x.body.text()));
  assert.equal((await slow).statusCode, 200);
  await gw.exited;
});

test('stop exits at once even with a request in flight', async () => {
  const { gw } = await setup();
  const slow = request(gw.url + '/slow?ms=5000').catch((e: Error) => e);
  await new Promise((r) => setTimeout(r, 200));
  const started = Date.now();
  assert.equal(cli('stop', '-c', gw.configFile).status, 0);
  await gw.exited;
  assert.ok(Date.now() - started < 4000);
  assert.ok((await slow) instanceof Error);
});

test('a worker that dies is restarted and traffic keeps flowing', async () => {
  const { gw } = await setup(2);
  const before = gw.output().length;
  const pids = spawnSync('pgrep', ['-P', String(gw.proc.pid)], { encoding: 'utf8' }).stdout.trim().split('\n').map(Number);
  assert.equal(pids.length, 2);
  process.kill(pids[0]!, 'SIGKILL');
  await gw.waitForOutput('restarting it', before);
  await eventually(() => spawnSync('pgrep', ['-P', String(gw.proc.pid)], { encoding: 'utf8' }).stdout.trim().split('\n').length === 2);
  for (let i = 0; i < 10; i++) assert.equal((await get(gw.url + '/x')).status, 200);
});

test('check validates a config without starting, naming the bad key', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-check-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'gatehouse.yaml'), 'routes:\n  - id: r1\n    uri: /x\n    upstream: { nodes: { "127.0.0.1:1980": 1 } }\n');
  writeFileSync(join(dir, 'good.yaml'), 'store:\n  type: standalone\n  standalone: { file: gatehouse.yaml }\n');
  const good = cli('check', '-c', join(dir, 'good.yaml'));
  assert.equal(good.status, 0, good.stderr);
  assert.match(good.stdout, /ok/);
  writeFileSync(join(dir, 'bad.yaml'), 'node:\n  lisen: []\n');
  const bad = cli('check', '-c', join(dir, 'bad.yaml'));
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /lisen/);
  writeFileSync(join(dir, 'badtype.yaml'), 'node:\n  workers: many\n');
  const badType = cli('check', '-c', join(dir, 'badtype.yaml'));
  assert.equal(badType.status, 1);
  assert.match(badType.stderr, /workers/);
  writeFileSync(join(dir, 'gatehouse.yaml'), 'routes:\n  - id: r1\n    uri: 42\n');
  const badObj = cli('check', '-c', join(dir, 'good.yaml'));
  assert.equal(badObj.status, 1);
  assert.match(badObj.stderr, /routes\[0\].*uri/);
});

test('start refuses a config with an unknown key and says which', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-start-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'c.yaml'), 'nodes:\n  workers: 1\n');
  const r = cli('start', '-c', join(dir, 'c.yaml'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /nodes/);
});

test('reload re-reads the configuration of a running gateway', async () => {
  const { gw } = await setup();
  assert.equal((await get(gw.url + '/x')).status, 200);
  // Write the new content without the watcher noticing in time is not possible to
  // force, so check that reload itself re-applies what the file says.
  const from = gw.output().length;
  assert.equal(cli('reload', '-c', gw.configFile).status, 0);
  await gw.waitForOutput('configuration reloaded', from);
  assert.equal((await get(gw.url + '/x')).status, 200);
});
