import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

// `log.format: pretty` is honoured by the primary and by the workers even when stdout is
// a pipe (with the default `auto`, a pipe gets JSON lines: every other integration test
// parses them).

const BIN = join(resolve(fileURLToPath(new URL('../../../../', import.meta.url))), 'bin', 'gatehouse.js');

test('log.format: pretty gives readable lines from the primary and the workers', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-log-format-'));
  await writeFile(join(dir, 'gatehouse.yaml'), stringify({
    routes: [{
      id: 'boom', uri: '/boom', upstream: { nodes: { '127.0.0.1:1': 1 } },
      plugins: { 'serverless-pre-function': { phase: 'access', functions: ["() => { throw new Error('boom for the log test') }"] } },
    }],
  }));
  await writeFile(join(dir, 'config.yaml'), stringify({
    node: { listen: [{ host: '127.0.0.1', port: 0 }], workers: 1 },
    admin: { listen: { host: '127.0.0.1', port: 0 } },
    store: { type: 'standalone', standalone: { file: 'gatehouse.yaml' } },
    prometheus: { enabled: false },
    data_dir: 'data',
    log: { level: 'info', format: 'pretty' },
  }));
  const proc = spawn(process.execPath, [BIN, 'start', '-c', join(dir, 'config.yaml')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waitFor = (re: RegExp): Promise<RegExpExecArray> => new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`no ${String(re)} in:\n${out}`)), 20_000);
    const check = (): void => {
      const m = re.exec(out);
      if (m !== null) { clearTimeout(timer); proc.stdout!.off('data', check); res(m); }
    };
    proc.stdout!.on('data', check);
    check();
  });
  proc.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  proc.stderr!.on('data', (c: Buffer) => { out += c.toString(); });
  try {
    const started = await waitFor(/^\S+ INFO  \[(\d+)\] primary: gatehouse started listen=127\.0\.0\.1:(\d+) /m);
    const res = await fetch(`http://127.0.0.1:${started[2]}/boom`);
    assert.equal(res.status, 500);
    await res.arrayBuffer();
    // the worker's line: another pid, the module, the message, then the fields
    const failed = await waitFor(/^\S+ ERROR \[(\d+)\] data-plane: plugin serverless-pre-function failed in access .*err="[^"]*boom for the log test"/m);
    assert.notEqual(failed[1], started[1]);
    for (const line of out.split('\n').filter((l) => l !== '')) {
      assert.ok(!line.startsWith('{'), `a JSON line in pretty mode: ${line}`);
    }
    assert.ok(!out.includes('\x1b['), 'no colours when stdout is not a terminal');
  } finally {
    proc.kill('SIGUSR2');
    await new Promise((r) => proc.once('exit', r));
    await rm(dir, { recursive: true, force: true });
  }
});
