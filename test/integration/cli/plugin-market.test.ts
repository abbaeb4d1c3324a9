// `gatehouse plugin publish|list|versions|enable|disable|rollback|delete` against a real
// gateway's Admin API, run as users run it (bin/gatehouse.js in a child process).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { validPlugin } from '../../helpers/custom-plugins.js';

const BIN = join(resolve(fileURLToPath(new URL('../../../../', import.meta.url))), 'bin', 'gatehouse.js');
const ADMIN = 'cli-market-admin-key-01';
const VIEWER = 'cli-market-viewer-key-01';

interface Run { code: number | null; stdout: string; stderr: string }

function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((done, fail) => {
    const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GATEHOUSE_ADMIN_KEY: '', ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c) => { stdout += c; });
    p.stderr.on('data', (c) => { stderr += c; });
    p.on('error', fail);
    p.on('close', (code) => done({ code, stdout, stderr }));
  });
}

describe('gatehouse plugin (marketplace CLI)', () => {
  let gw: Gateway;
  let v1File: string;
  let v2File: string;
  let admin: string[];
  before(async () => {
    gw = await startGateway({
      store: 'sqlite', statusListener: false,
      adminKeys: [{ name: 'ops', key: ADMIN, role: 'admin' }, { name: 'dash', key: VIEWER, role: 'viewer' }],
    });
    v1File = join(gw.dir, 'stamp-v1.wasm');
    v2File = join(gw.dir, 'stamp-v2.wasm');
    await writeFile(v1File, await validPlugin('cli1'));
    await writeFile(v2File, await validPlugin('cli2'));
    admin = ['--admin', gw.adminUrl, '--key', ADMIN];
  });
  after(async () => { await gw?.stop(); });

  test('publish uploads with a progress bar on stderr and prints what was published', async () => {
    const r = await run(['plugin', 'publish', v1File, '--id', 'stamp', '--stage', 'statistics', '--priority', '20', '--name', 'Stamp',
      '--version', '1.0.0', '--language', 'TinyGo', ...admin]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^published stamp version 1\.0\.0 \(sha256 [0-9a-f]{64}, \d+ bytes, ABI 0\.2\.1\), enabled$/m);
    assert.match(r.stderr, /\[#+\] [\d.]+\/[\d.]+ MB 100%/);
    assert.match(r.stderr, /\(\d+ bytes sent\)/);
  });

  test('the key can come from GATEHOUSE_ADMIN_KEY, and list shows the plugins', async () => {
    const r = await run(['plugin', 'list', '--admin', gw.adminUrl], { GATEHOUSE_ADMIN_KEY: VIEWER });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ID\s+VERSION\s+ENABLED\s+STAGE\s+PRIORITY\s+NAME$/m);
    assert.match(r.stdout, /^stamp\s+1\.0\.0\s+true\s+statistics\s+20\s+Stamp$/m);
  });

  test('the server\'s refusal is printed with its status, and the exit code is 1', async () => {
    const again = await run(['plugin', 'publish', v2File, '--id', 'stamp', '--stage', 'statistics', '--priority', '20', '--version', '2.0.0', ...admin]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /gatehouse plugin: 409 custom plugin stamp is enabled: disable it first/);
    const builtin = await run(['plugin', 'disable', 'key-auth', ...admin]);
    assert.equal(builtin.code, 1);
    assert.match(builtin.stderr, /403 key-auth is a built-in plugin and cannot be edited/);
    const viewer = await run(['plugin', 'disable', 'stamp', '--admin', gw.adminUrl, '--key', VIEWER]);
    assert.equal(viewer.code, 1);
    assert.match(viewer.stderr, /403 failed to check token \(invalid method for role viewer\)/);
  });

  test('disable, publish a new version, versions, enable, rollback, delete', async () => {
    assert.match((await run(['plugin', 'disable', 'stamp', ...admin])).stdout, /^stamp disabled \(version 1\.0\.0\)$/m);
    const pub = await run(['plugin', 'publish', v2File, '--id', 'stamp', '--stage', 'statistics', '--priority', '20', '--version', '2.0.0', ...admin]);
    assert.equal(pub.code, 0, pub.stderr);
    assert.match(pub.stdout, /published stamp version 2\.0\.0 .*disabled$/m);
    const vs = await run(['plugin', 'versions', 'stamp', ...admin]);
    assert.equal(vs.code, 0, vs.stderr);
    assert.match(vs.stdout, /^\s+1\.0\.0\s+[0-9a-f]{64}/m);
    assert.match(vs.stdout, /^\*\s+2\.0\.0\s+[0-9a-f]{64}/m);
    assert.match((await run(['plugin', 'enable', 'stamp', ...admin])).stdout, /^stamp enabled \(version 2\.0\.0\)$/m);
    const back = await run(['plugin', 'rollback', 'stamp', '1.0.0', ...admin]);
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stdout, /^stamp now serves version 1\.0\.0$/m);
    const unknown = await run(['plugin', 'rollback', 'stamp', '9.9.9', ...admin]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /400 custom plugin stamp has no version 9\.9\.9/);
    const refused = await run(['plugin', 'delete', 'stamp', ...admin]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /409 .*disable it first/);
    await run(['plugin', 'disable', 'stamp', ...admin]);
    const del = await run(['plugin', 'delete', 'stamp', ...admin]);
    assert.equal(del.code, 0, del.stderr);
    assert.match(del.stdout, /^stamp deleted$/m);
  });

  test('usage errors exit 2 with the usage; an unreachable Admin API exits 1 saying so', async () => {
    const missing = await run(['plugin', 'publish', v1File, '--id', 'x', ...admin]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /plugin publish needs --stage/);
    assert.match(missing.stderr, /Usage: gatehouse plugin/);
    assert.equal((await run(['plugin', 'frobnicate', ...admin])).code, 2);
    assert.equal((await run(['plugin', 'enable', ...admin])).code, 2);
    const down = await run(['plugin', 'list', '--admin', 'http://127.0.0.1:1', '--key', ADMIN]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach the Admin API at http:\/\/127\.0\.0\.1:1/);
    const nofile = await run(['plugin', 'publish', join(gw.dir, 'nope.wasm'), '--id', 'x', '--stage', 'default', '--priority', '1', ...admin]);
    assert.equal(nofile.code, 1);
    assert.match(nofile.stderr, /cannot read .*nope\.wasm/);
  });

  test('without --admin and --key the node config says where the Admin API is and which key to use', async () => {
    const conf = join(gw.dir, 'cli-config.yaml');
    const port = new URL(gw.adminUrl).port;
    await writeFile(conf, `admin:\n  listen: { host: 127.0.0.1, port: ${port} }\n  keys:\n    - { name: dash, key: ${VIEWER}, role: viewer }\n    - { name: ops, key: ${ADMIN}, role: admin }\n`
      + `store:\n  type: sqlite\n  sqlite: { path: ${join(gw.dir, 'data', 'gatehouse.db')} }\ndata_dir: ${join(gw.dir, 'data')}\n`);
    const r = await run(['plugin', 'list', '-c', conf]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ID\s+VERSION/m);
    // a write reaches the plugin lookup (404), so the admin key was sent, not the viewer key listed first
    const w = await run(['plugin', 'disable', 'nobody', '-c', conf]);
    assert.equal(w.code, 1);
    assert.match(w.stderr, /404 custom plugin nobody not found/);
  });
});
