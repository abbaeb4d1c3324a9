import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, existsSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import plugin, { confinedLogPath, sinkFor } from './file-logger.js';
import { overridePluginNodeLimits } from '../plugin-runtime/node-limits.js';
import { createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';

const dir = mkdtempSync(join(tmpdir(), 'file-logger-'));
const outside = mkdtempSync(join(tmpdir(), 'file-logger-outside-'));
const restoreLimits = overridePluginNodeLimits({ logDir: dir });
after(async () => {
  await plugin.destroy!();
  restoreLimits();
  rmSync(dir, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

async function lines(file: string, n: number): Promise<any[]> {
  for (let i = 0; i < 400; i++) {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    const got = text.split('\n').filter((l) => l !== '');
    if (got.length >= n) return got.map((l) => JSON.parse(l));
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`expected ${n} lines in ${file}`);
}

test('declares statistics 399 with APISIX\'s schema', () => {
  assert.equal(plugin.stage, 'statistics');
  assert.equal(plugin.priority, 399);
  assert.match(schemaError(plugin.schema, {})!, /path/);
  assert.equal(schemaError(plugin.schema, { path: 'x.log', include_resp_body: true, log_format: { a: '$host' } }), undefined);
  assert.throws(() => prepareWith(plugin, { path: 'x', match: [['status', 'no-such-op', 1]] }));
});

test('appends one JSON line per request, default entry', async () => {
  const file = join(dir, 'default.log');
  const p = prepareWith(plugin, { path: file });
  plugin.log!(p, createTestContext({ uri: '/a', routeId: 'r1', status: 200 }));
  plugin.log!(p, createTestContext({ uri: '/b', routeId: 'r1', status: 404 }));
  const got = await lines(file, 2);
  assert.equal(got[0].request.uri, '/a');
  assert.equal(got[1].response.status, 404);
  assert.equal(got[1].route_id, 'r1');
});

test('metadata log_format is used; the instance log_format wins over it', async () => {
  const file = join(dir, 'formats.log');
  const metadata = { log_format: { host: '$host', from: 'metadata' } };
  const fromMeta = prepareWith(plugin, { path: file }, { metadata });
  const fromInstance = prepareWith(plugin, { path: file, log_format: { uri: '$uri', from: 'instance' } }, { metadata });
  plugin.log!(fromMeta, createTestContext({ uri: '/product', host: 'shop' }));
  plugin.log!(fromInstance, createTestContext({ uri: '/order', host: 'shop' }));
  const got = await lines(file, 2);
  assert.deepEqual(got[0], { host: 'shop', from: 'metadata' });
  assert.deepEqual(got[1], { uri: '/order', from: 'instance' });
});

test('match: only matching requests are logged', async () => {
  const file = join(dir, 'match.log');
  const p = prepareWith(plugin, { path: file, log_format: { u: '$uri' }, match: [['arg_log', '==', 'yes']] });
  plugin.log!(p, createTestContext({ uri: '/skip?log=no' }));
  plugin.log!(p, createTestContext({ uri: '/keep?log=yes' }));
  plugin.log!(p, createTestContext({ uri: '/keep2?log=yes' }));
  assert.deepEqual(await lines(file, 2), [{ u: '/keep' }, { u: '/keep2' }]);
});

test('a rotated file is reopened at its path', async () => {
  const file = join(dir, 'rotate.log');
  const p = prepareWith(plugin, { path: file, log_format: { n: '$arg_n' } });
  plugin.log!(p, createTestContext({ uri: '/?n=1' }));
  await lines(file, 1);
  renameSync(file, `${file}.1`);
  // lines keep going to the moved file until the path is checked again, then to a new file
  for (let i = 2; i < 400 && !existsSync(file); i++) {
    plugin.log!(p, createTestContext({ uri: `/?n=${i}` }));
    await new Promise((r) => setTimeout(r, 10));
  }
  plugin.log!(p, createTestContext({ uri: '/?n=last' }));
  const fresh = await lines(file, 1);
  assert.equal(fresh[fresh.length - 1].n, 'last');
  const old = await lines(`${file}.1`, 1);
  assert.equal(old[0].n, '1');
});

test('an unwritable path is reported, not thrown', async () => {
  writeFileSync(join(dir, 'a-file'), '');
  const sink = sinkFor(join(dir, 'a-file', 'x.log'));
  sink.write('a\n');
  for (let i = 0; i < 200 && sink.dropped === 0; i++) {
    await new Promise((r) => setTimeout(r, 5));
    sink.write('b\n');
  }
  assert.ok(sink.dropped > 0);
});

test('paths are confined to the log directory: relative ones resolve inside it', () => {
  assert.equal(prepareWith(plugin, { path: 'access.log' }).path, join(dir, 'access.log'));
  assert.equal(prepareWith(plugin, { path: 'app/a.log' }).path, join(dir, 'app', 'a.log'));
  assert.equal(prepareWith(plugin, { path: join(dir, 'abs.log') }).path, join(dir, 'abs.log'));
  assert.equal(prepareWith(plugin, { path: 'x/../y.log' }).path, join(dir, 'y.log'));
});

test('a path resolving outside the log directory is refused, naming the field', () => {
  for (const path of [join(outside, 'x.log'), '/etc/passwd', '../x.log', 'a/../../x.log', '.', dir]) {
    assert.throws(() => prepareWith(plugin, { path }), /^Error: plugins\.file-logger\.path: ".*" resolves outside the log directory/, path);
  }
});

test('a symlink inside the log directory cannot lead outside it', () => {
  symlinkSync(outside, join(dir, 'escape'));
  assert.throws(() => confinedLogPath('escape/x.log', dir), /resolves outside the log directory/);
  symlinkSync(join(outside, 'target.log'), join(dir, 'link.log'));
  assert.throws(() => confinedLogPath('link.log', dir), /resolves outside the log directory/);
});

test('a symlink put at the file after the route was written is not followed', async () => {
  mkdirSync(join(dir, 'late'));
  const file = join(dir, 'late', 'x.log');
  const p = prepareWith(plugin, { path: file });
  writeFileSync(join(outside, 'victim.log'), '');
  symlinkSync(join(outside, 'victim.log'), file);
  const sink = sinkFor(p.path);
  sink.write('a\n');
  for (let i = 0; i < 200 && sink.dropped === 0; i++) {
    await new Promise((r) => setTimeout(r, 5));
    sink.write('b\n');
  }
  assert.ok(sink.dropped > 0);
  assert.equal(readFileSync(join(outside, 'victim.log'), 'utf8'), '');
});
