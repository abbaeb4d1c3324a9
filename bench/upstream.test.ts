import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpGet, which } from './procs.js';
import { HELLO_BYTES } from './scenarios.js';
import { startUpstream, type Running } from './targets.js';

// The bench upstream as the scenarios use it: nginx when installed (else node's server),
// answering every path a scenario loads, for GET and for the transformer's POST.

const dir = mkdtempSync(join(tmpdir(), 'bench-upstream-'));
let upstream: Running | undefined;
after(async () => {
  for (const p of upstream?.procs ?? []) await p.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('the upstream answers /hello (GET and POST), /bench/target and /bytes/<n> in full', async () => {
  upstream = await startUpstream(10_000, dir);
  assert.match(upstream.command, which('nginx') === undefined ? /^node / : /^nginx /);
  const base = `http://127.0.0.1:${upstream.port}`;
  for (const [path, bytes] of [['/hello', HELLO_BYTES], ['/bench/target', HELLO_BYTES], ['/bytes/1024', 1024], ['/bytes/65536', 65536], ['/bytes/1048576', 1048576]] as const) {
    const r = await httpGet(base + path, 5000);
    assert.equal(r.status, 200, path);
    assert.equal(r.bytes, bytes, path);
  }
  const post = await httpGet(`${base}/hello?q=books`, 5000, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
  assert.equal(post.status, 200);
  assert.equal(post.bytes, HELLO_BYTES);
});
