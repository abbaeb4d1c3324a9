// `gatehouse plugin import FILE.yaml` run as users run it (bin/gatehouse.js in a child
// process) against a real gateway: a multi-document file whose file:// urls are read by
// the CLI relative to the YAML and uploaded, an http:// one fetched by the gateway.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { get } from '../../helpers/http.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { wasmFixture } from '../../helpers/wasm-fixtures.js';
import { adminClient, routeTo } from '../admin/client.js';

const BIN = join(resolve(fileURLToPath(new URL('../../../../', import.meta.url))), 'bin', 'gatehouse.js');
const ADMIN = 'cli-import-admin-key-01';

interface Run { code: number | null; stdout: string; stderr: string }

function run(args: string[]): Promise<Run> {
  return new Promise((done, fail) => {
    const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GATEHOUSE_ADMIN_KEY: '' } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c) => { stdout += c; });
    p.stderr.on('data', (c) => { stderr += c; });
    p.on('error', fail);
    p.on('close', (code) => done({ code, stdout, stderr }));
  });
}

const plugin = (name: string, url: string, extra = ''): string =>
  `apiVersion: extensions.higress.io/v1alpha1\nkind: WasmPlugin\nmetadata:\n  name: ${name}\nspec:\n  url: ${url}\n${extra}`;

describe('gatehouse plugin import', () => {
  let gw: Gateway;
  let upstream: TestUpstream;
  let files: http.Server;
  let filesUrl: string;
  before(async () => {
    upstream = await startUpstream();
    const echo = Buffer.from(await wasmFixture('echo-config'));
    files = http.createServer((req, res) => {
      res.writeHead(req.url === '/echo.wasm' ? 200 : 404);
      res.end(req.url === '/echo.wasm' ? echo : undefined);
    });
    await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
    filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
    gw = await startGateway({ store: 'sqlite', statusListener: false, workers: 1, adminKeys: [{ name: 'ops', key: ADMIN }] });
    const r = await adminClient(gw)('PUT', '/routes/shop', { ...routeTo('/shop', upstream.port), name: 'shop' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  });
  after(async () => {
    await gw?.stop();
    await upstream?.close();
    files?.closeAllConnections();
    await new Promise((r) => files?.close(r));
  });

  test('imports each WasmPlugin of a multi-document file, reading file:// urls beside the YAML; one refused makes the exit code 1', async () => {
    const dir = join(gw.dir, 'plugins');
    await mkdir(join(dir, 'bin'), { recursive: true });
    await writeFile(join(dir, 'bin', 'set-header.wasm'), await wasmFixture('set-header'));
    const yamlFile = join(dir, 'plugins.yaml');
    await writeFile(yamlFile, [
      plugin('local-header', 'file://bin/set-header.wasm', '  matchRules:\n  - ingress: [shop]\n    config:\n      from: file\n'),
      plugin('remote-echo', `${filesUrl}/echo.wasm`, '  defaultConfig:\n    from: http\n'),
      plugin('broken', 'file://bin/missing.wasm'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n',
    ].join('---\n'));
    const r = await run(['plugin', 'import', yamlFile, '--admin', gw.adminUrl, '--key', ADMIN]);
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /imported local-header: plugin created, version [0-9a-f]{12} \(sha256 [0-9a-f]{64}\); global rule wasmplugin-local-header created/);
    assert.match(r.stdout, /imported remote-echo: plugin created/);
    assert.match(r.stderr, /broken: not imported: spec\.url file:\/\/bin\/missing\.wasm: cannot read/);
    assert.match(r.stderr, /skipped a ConfigMap document/);
    await eventually(async () => {
      const res = await get(`${gw.url}/shop`);
      const headers = (JSON.parse(res.body) as { headers: Record<string, string> }).headers;
      return headers['x-wasm'] === '{"from":"file"}' && headers['x-config'] === '{"from":"http"}';
    }, 60, 50);
    const again = await run(['plugin', 'import', yamlFile, '--admin', gw.adminUrl, '--key', ADMIN]);
    assert.match(again.stdout, /imported local-header: plugin unchanged/);
  });

  test('a file without a WasmPlugin is an error', async () => {
    const yamlFile = join(gw.dir, 'empty.yaml');
    await writeFile(yamlFile, 'apiVersion: v1\nkind: ConfigMap\n');
    const r = await run(['plugin', 'import', yamlFile, '--admin', gw.adminUrl, '--key', ADMIN]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /holds no WasmPlugin resource/);
  });
});
