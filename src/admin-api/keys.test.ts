import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, readFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import type { NodeConfig } from '../contracts/node-config.js';
import { resolveAdminKeys } from './keys.js';

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function capture(): { log: ReturnType<typeof pino>; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({ write(c, _e, cb) { lines.push(String(c)); cb(); } });
  return { log: pino({ level: 'info' }, stream), lines };
}

function conf(keys: NodeConfig['admin']['keys'] = []): Pick<NodeConfig, 'admin' | 'data_dir'> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-keys-'));
  dirs.push(dir);
  return { admin: { listen: { host: '127.0.0.1', port: 0 }, keys, allow: [] }, data_dir: join(dir, 'data') };
}

describe('admin keys', () => {
  it('uses the configured keys as they are, generating nothing', () => {
    const c = conf([{ name: 'a', key: 'k', role: 'viewer' }]);
    const { log, lines } = capture();
    assert.deepEqual(resolveAdminKeys(c, log), [{ name: 'a', key: 'k', role: 'viewer' }]);
    assert.equal(lines.length, 0);
  });

  it('generates a key once, saves it with mode 0600, prints it once and reuses it later', () => {
    const c = conf();
    const first = capture();
    const [key] = resolveAdminKeys(c, first.log);
    assert.equal(key!.role, 'admin');
    assert.ok(key!.key.length >= 32);
    const file = join(c.data_dir, 'admin.key');
    assert.equal(readFileSync(file, 'utf8').trim(), key!.key);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(first.lines.length, 1);
    const line = JSON.parse(first.lines[0]!) as { level: number; admin_key: string; file: string };
    assert.equal(line.level, 40);
    assert.equal(line.admin_key, key!.key);
    assert.equal(line.file, file);

    chmodSync(file, 0o644);
    const second = capture();
    assert.deepEqual(resolveAdminKeys(c, second.log), [key]);
    assert.equal(second.lines.length, 0);
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });
});
