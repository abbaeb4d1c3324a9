import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, startGateway } from '../../helpers/gateway.js';

// A gateway that never finishes starting (here: a custom plugin whose module never
// finishes loading) must not outlive the test that started it: its open pipes would keep
// the test file, and so the whole suite, from ending.

test('the test launcher kills a gateway that did not start in time', async () => {
  const plugins = await mkdtemp(join(tmpdir(), 'gatehouse-hanging-plugin-'));
  try {
    await writeFile(join(plugins, 'hangs.mjs'), '// keeps the event loop busy and never finishes loading\nawait new Promise(() => { setInterval(() => {}, 1000); });\nexport default { name: "hangs" };\n');
    const err = await startGateway({ extra: { plugin_dirs: [plugins] }, startTimeoutMs: 1500 }).then(
      () => assert.fail('the gateway started'), (e: unknown) => e as Error);
    assert.match(err.message, /timed out waiting for gatehouse started/);
    const pid = Number(/gateway pid (\d+) killed/.exec(err.message)?.[1]);
    assert.ok(pid > 0, err.message);
    const alive = (): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await eventually(() => !alive());
  } finally {
    await rm(plugins, { recursive: true, force: true });
  }
});
