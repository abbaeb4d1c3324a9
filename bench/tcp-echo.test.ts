import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopAll } from './procs.js';
import { REPO_ROOT, startStreamGateway, startTcpEchoServer } from './targets.js';
import { formatTcpEcho, runTcpEcho } from './tcp-echo.js';

test('the TCP echo sampler measures the echo server and the stream route the bench starts', { timeout: 60_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-bench-tcp-'));
  try {
    const echo = await startTcpEchoServer(20_000);
    const gateway = await startStreamGateway(REPO_ROOT, echo.port, tmp, 20_000);
    const r = await runTcpEcho(echo.port, gateway.port, { connections: 2, durationS: 0.3, rounds: 2 });
    assert.equal(r.runs.direct.length, 2);
    assert.equal(r.runs.gateway.length, 2);
    assert.ok(r.direct.roundTripsPerS > 0 && r.gateway.roundTripsPerS > 0, JSON.stringify(r));
    assert.ok(r.gateway.p50Ms > 0 && r.gateway.p99Ms >= r.gateway.p50Ms);
    assert.match(formatTcpEcho(r), /gateway \(stream route\)/);
  } finally {
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
});
