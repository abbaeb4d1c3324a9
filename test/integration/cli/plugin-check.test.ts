// `gatehouse plugin check FILE.wasm`: the local check the seeds' FAQ asks for, run as a user
// would (the CLI binary), against fixtures that work, fail on requests, and cannot load.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asFixture, wasmFixture } from '../../helpers/wasm-fixtures.js';

const BIN = join(process.cwd(), 'bin', 'gatehouse.js');
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-plugin-check-'));
  for (const name of ['set-header', 'body-rewrite', 'trap', 'loop', 'no-abi', 'unknown-module', 'local-response'] as const) {
    await writeFile(join(dir, `${name}.wasm`), await wasmFixture(name));
  }
  await writeFile(join(dir, 'as-add-header.wasm'), await asFixture('as-add-header'));
});

after(async () => { await rm(dir, { recursive: true, force: true }); });

function check(...args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [BIN, 'plugin', 'check', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout + r.stderr };
}

test('a working plugin: what it did to the sample request, exit 0', () => {
  const r = check(join(dir, 'set-header.wasm'), '--config', '{"a":1}');
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /proxy-wasm ABI 0\.2\.1/);
  assert.match(r.out, /header +x-wasm: \{"a":1\}/);
  assert.match(r.out, /result +ok/);
});

test('bodies both ways, and an SDK-built plugin with its root id', () => {
  const b = check(join(dir, 'body-rewrite.wasm'), '--method', 'POST', '--body', 'abc');
  assert.equal(b.code, 0, b.out);
  assert.match(b.out, /body +→ "\[abc\]"/);
  assert.match(b.out, /HELLO FROM UPSTREAM/);
  const as = check(join(dir, 'as-add-header.wasm'), '--root-id', 'add_header', '--json');
  assert.equal(as.code, 0, as.out);
  const report = JSON.parse(as.out) as { response: { headers: Record<string, string> } };
  assert.equal(report.response.headers.hello, '{}');
});

test('a local response is reported; the upstream is not called', () => {
  const r = check(join(dir, 'local-response.wasm'));
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /answered +418 by the plugin/);
});

test('a plugin that traps or loops on the request: exit 1 with the fault', () => {
  const trap = check(join(dir, 'trap.wasm'), '--header', 'x-trap: 1');
  assert.equal(trap.code, 1, trap.out);
  assert.match(trap.out, /FAULT +wasm plugin trap failed in proxy_on_request_headers: it trapped/);
  const loop = check(join(dir, 'loop.wasm'), '--header', 'x-loop: 1', '--timeout-ms', '50');
  assert.equal(loop.code, 1, loop.out);
  assert.match(loop.out, /did not return within 50 ms/);
});

test('a module the gateway would refuse: exit 1 with the reason', () => {
  const noAbi = check(join(dir, 'no-abi.wasm'));
  assert.equal(noAbi.code, 1);
  assert.match(noAbi.out, /REFUSED +missing or unknown proxy-wasm ABI version/);
  const foreign = check(join(dir, 'unknown-module.wasm'));
  assert.equal(foreign.code, 1);
  assert.match(foreign.out, /REFUSED .*unknown import module "foo"/);
});
