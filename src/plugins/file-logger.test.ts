import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import plugin, { sinkFor } from './file-logger.js';
import { createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';

const dir = mkdtempSync(join(tmpdir(), 'file-logger-'));
after(async () => {
  await plugin.destroy!();
  rmSync(dir, { recursive: true, force: true });
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
  const sink = sinkFor(join(dir, 'no', 'such', 'dir', 'x.log'));
  sink.write('a\n');
  for (let i = 0; i < 200 && sink.dropped === 0; i++) {
    await new Promise((r) => setTimeout(r, 5));
    sink.write('b\n');
  }
  assert.ok(sink.dropped > 0);
});
