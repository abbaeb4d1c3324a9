// A custom JavaScript plugin loaded from `plugin_dirs`: used on a route, its code
// changed on disk, `PUT /apisix/admin/plugins/reload`, and the new code serves on
// every worker without a restart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { startGateway, eventually, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { adminClient, routeTo, type AdminCall } from '../admin/client.js';

let gw: Gateway;
let up: TestUpstream;
let call: AdminCall;
let dir: string;
let dir2: string;

/** The custom plugin's source. v2 also refuses requests carrying `?deny`. */
function stampPlugin(version: number): string {
  return `// custom plugin, version ${version}
export default {
  name: 'stamp',
  version: ${version},
  stage: 'default',
  priority: 100,
  schema: { type: 'object', properties: { label: { type: 'string' } } },
  prepare(conf) { return conf.label ?? 'none'; },
  rewrite(label, ctx) { ctx.request.setHeader('x-stamp', 'v${version}:' + label); },
  ${version >= 2 ? `access(label, ctx) {
    if (ctx.request.arg('deny') !== undefined) return { status: 403, body: { error_msg: 'denied by v${version}' } };
  },` : ''}
  header_filter(label, ctx) { ctx.response.setHeader('x-stamp', 'v${version}:' + label); },
};
`;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-custom-plugins-'));
  dir2 = await mkdtemp(join(tmpdir(), 'gatehouse-custom-plugins-2-'));
  // `.js` files are ES modules when their folder says so
  for (const d of [dir, dir2]) await writeFile(join(d, 'package.json'), '{"type":"module"}\n');
  await writeFile(join(dir, 'stamp.js'), stampPlugin(1));
  up = await startUpstream('custom');
  gw = await startGateway({ store: 'sqlite', workers: 2, extra: { plugin_dirs: [dir] } });
  call = adminClient(gw);
});
after(async () => {
  await gw?.stop();
  await up?.close();
  await rm(dir, { recursive: true, force: true });
  await rm(dir2, { recursive: true, force: true });
});

interface Answer { status: number; stamp: string | undefined; upstreamStamp: string | undefined }

/** One request on a fresh connection, so the cluster's round-robin spreads them over the workers. */
function fresh(path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${gw.url}${path}`, { agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => {
        let upstreamStamp: string | undefined;
        try { upstreamStamp = (JSON.parse(body) as { headers?: Record<string, string> }).headers?.['x-stamp']; } catch { /* not json */ }
        resolve({ status: res.statusCode!, stamp: res.headers['x-stamp'] as string | undefined, upstreamStamp });
      });
    });
    req.setTimeout(5_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

test('a custom plugin from plugin_dirs runs on a route', async () => {
  const put = await call('PUT', '/routes/stamped', { ...routeTo('/stamped', up.port), plugins: { stamp: { label: 'L' } } });
  assert.equal(put.status, 201, put.text);
  await eventually(async () => (await fresh('/stamped')).status === 200);
  for (let i = 0; i < 6; i++) assert.deepEqual(await fresh('/stamped'), { status: 200, stamp: 'v1:L', upstreamStamp: 'v1:L' });
  assert.equal((await fresh('/stamped?deny=1')).status, 200);
  assert.equal((await call('GET', '/plugins/stamp?detail=true')).body.version, 1);
});

test('changed code on disk serves after PUT /plugins/reload, on every worker, without a restart', async () => {
  const pid = gw.proc.pid;
  await writeFile(join(dir, 'stamp.js'), stampPlugin(2));
  // not before the reload
  assert.equal((await fresh('/stamped')).stamp, 'v1:L');
  const r = await call('PUT', '/plugins/reload');
  assert.equal(r.status, 200);
  assert.equal(r.text, 'done');
  for (let i = 0; i < 6; i++) assert.deepEqual(await fresh('/stamped'), { status: 200, stamp: 'v2:L', upstreamStamp: 'v2:L' });
  const denied = await fresh('/stamped?deny=1');
  assert.equal(denied.status, 403);
  assert.equal(denied.stamp, 'v2:L', 'header_filter still runs on a decision');
  assert.equal((await call('GET', '/plugins/stamp?detail=true')).body.version, 2);
  assert.equal(gw.proc.pid, pid);
  assert.equal(gw.proc.exitCode, null);
});

test('a plugin module that fails to load refuses the reload; the running plugins stay', async () => {
  await writeFile(join(dir, 'broken.js'), 'export default {{ this is not javascript\n');
  try {
    const r = await call('PUT', '/plugins/reload');
    assert.equal(r.status, 500);
    assert.match(r.body.error_msg, /^failed to reload plugins/);
    assert.equal((await fresh('/stamped')).stamp, 'v2:L');
    assert.equal((await call('GET', '/plugins/stamp?detail=true')).body.version, 2);
  } finally {
    await rm(join(dir, 'broken.js'), { force: true });
  }
});

test('a CommonJS plugin (.cjs) is loaded, and its changed code is re-evaluated by the reload', async () => {
  const source = (version: number): string => `module.exports = {
  name: 'cjs-stamp', version: ${version}, stage: 'default', priority: 50, schema: { type: 'object' },
  header_filter(_conf, ctx) { ctx.response.setHeader('x-cjs', 'v${version}'); },
};
`;
  await writeFile(join(dir, 'cjs-stamp.cjs'), source(1));
  try {
    assert.equal((await call('PUT', '/plugins/reload')).status, 200);
    assert.equal((await call('GET', '/plugins/cjs-stamp?detail=true')).body.version, 1);
    await writeFile(join(dir, 'cjs-stamp.cjs'), source(2));
    assert.equal((await call('PUT', '/plugins/reload')).status, 200);
    assert.equal((await call('GET', '/plugins/cjs-stamp?detail=true')).body.version, 2);
  } finally {
    await rm(join(dir, 'cjs-stamp.cjs'), { force: true });
  }
});

test('a folder added to plugin_dirs in config.yaml is loaded by the reload', async () => {
  await writeFile(join(dir2, 'stamp-two.js'), stampPlugin(3).replace("name: 'stamp'", "name: 'stamp-two'"));
  assert.equal((await call('GET', '/plugins/stamp-two')).status, 404);
  const conf = parse(await readFile(gw.configFile, 'utf8')) as Record<string, unknown>;
  conf.plugin_dirs = [dir, dir2];
  await writeFile(gw.configFile, stringify(conf));
  assert.equal((await call('PUT', '/plugins/reload')).status, 200);
  assert.equal((await call('GET', '/plugins/stamp-two')).status, 200);
  const put = await call('PUT', '/routes/two', { ...routeTo('/two', up.port), plugins: { 'stamp-two': { label: 'T' } } });
  assert.equal(put.status, 201, put.text);
  await eventually(async () => (await fresh('/two')).status === 200);
  for (let i = 0; i < 4; i++) assert.equal((await fresh('/two')).stamp, 'v3:T');
});
