import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GRPC_PATH, GRPC_REPLY, GRPC_REQUEST } from './grpc-unary.js';
import { h2loadArgs } from './load.js';
import { grpcFailure, http2Get, stopAll, which } from './procs.js';
import { goalsFor, scenarioTable, summaryBlock, type Summary, type TargetRow } from './report.js';
import { SCENARIOS, nginxConfig, type TargetId } from './scenarios.js';
import { REPO_ROOT, nginxHasGrpc, startGateway, startGrpcServer } from './targets.js';

test('the gRPC server answers a unary call with its reply and grpc-status 0, directly and through a grpc route', { timeout: 60_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-bench-grpc-'));
  try {
    const server = await startGrpcServer(20_000);
    const gateway = await startGateway('gateway-grpc', REPO_ROOT, server.port, tmp, 20_000);
    for (const port of [server.port, gateway.port]) {
      const res = await http2Get(`http://127.0.0.1:${port}${GRPC_PATH}`, 5000, GRPC_REQUEST);
      assert.equal(grpcFailure(res), undefined);
      assert.equal(res.bytes, GRPC_REPLY.length);
      assert.equal(res.headers['content-type'], 'application/grpc');
    }
  } finally {
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('grpcFailure: HTTP 200 alone is not a gRPC success', () => {
  assert.equal(grpcFailure({ status: 200, bytes: 0, headers: {}, trailers: { 'grpc-status': '0' } }), undefined);
  assert.equal(grpcFailure({ status: 200, bytes: 0, headers: {} }), 'no grpc-status trailer');
  assert.match(grpcFailure({ status: 200, bytes: 0, headers: { 'grpc-status': '14', 'grpc-message': 'down' } })!, /trailers-only.*14 \(down\)/);
  assert.equal(grpcFailure({ status: 200, bytes: 9, headers: {}, trailers: { 'grpc-status': '12' } }), 'grpc-status 12 ()');
  assert.equal(grpcFailure({ status: 426, bytes: 9, headers: {} }), 'HTTP 426');
});

test('h2load POSTs the framed message from a file with the gRPC headers', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-bench-h2load-'));
  try {
    const args = h2loadArgs({ url: 'http://127.0.0.1:1/bench.Bench/Unary', durationS: 5, request: GRPC_REQUEST, tmpDir: tmp }, join(tmp, 'log.tsv'));
    const data = args[args.indexOf('-d') + 1]!;
    const body = readFileSync(data);
    // gRPC's frame: uncompressed, the length, then the message
    assert.equal(body[0], 0);
    assert.equal(body.readUInt32BE(1), body.length - 5);
    assert.ok(args.includes('content-type: application/grpc') && args.includes('te: trailers'));
    assert.deepEqual(args.slice(0, 4), ['-t1', '-c4', '-m25', '-D5']);
    assert.equal(args.at(-1), 'http://127.0.0.1:1/bench.Bench/Unary');
    assert.ok(!h2loadArgs({ url: 'http://x/', durationS: 1, tmpDir: tmp }, 'l').includes('-d'), 'a plain GET has no body');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('nginxConfig: grpc_pass to the gRPC server only when asked; nginx -t accepts it where installed', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-nginx-'));
  try {
    assert.doesNotMatch(nginxConfig({ dir, port: 18080, h2Port: 18082, upstreamPort: 18081 }), /grpc/);
    const cfg = nginxConfig({ dir, port: 18080, h2Port: 18082, upstreamPort: 18081, grpcPort: 18083 });
    assert.match(cfg, /location \/bench\.Bench\/ \{\s+grpc_pass grpc:\/\/bench_grpc;/);
    assert.match(cfg, /upstream bench_grpc \{\s+server 127\.0\.0\.1:18083;\s+keepalive 64;/);
    if (which('nginx') === undefined || !nginxHasGrpc()) { t.skip('nginx with its gRPC module is not installed'); return; }
    writeFileSync(join(dir, 'nginx.conf'), cfg);
    execFileSync('nginx', ['-t', '-q', '-c', join(dir, 'nginx.conf'), '-p', dir, '-e', join(dir, 'error.log')], { stdio: 'pipe', timeout: 10_000 });
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

function rowsOf(entries: [TargetId, number][]): TargetRow[] {
  return entries.map(([target, rps]) => ({
    target, label: target, runs: [],
    summary: { rps, p50Ms: 1, p99Ms: 2, spreadPct: 0, requests: 1, errors: 0, non2xx: 0, cpuUsPerRequest: undefined, rssMiB: 10 } satisfies Summary,
  }));
}

test('the grpc row: ratios to the server directly and to nginx, no goal', () => {
  const scenario = SCENARIOS.find((s) => s.id === 'grpc')!;
  assert.equal(scenario.reference, 'grpc-direct');
  const rows = rowsOf([['grpc-direct', 40_000], ['gateway-grpc', 20_000], ['nginx', 25_000]]);
  const goals = goalsFor(scenario, rows);
  assert.deepEqual(goals, []);
  const table = scenarioTable({ scenario, rows, goals });
  assert.match(table, /÷ direct/);
  assert.match(table, /gateway \(grpc route\) ÷ nginx \(grpc_pass\): 0\.80×/);
  const summary = summaryBlock([{ scenario, rows, goals }]);
  assert.match(summary, /gateway grpc ÷ gRPC server direct, unary \(no goal\)\s+0\.50×/);
  assert.match(summary, /gateway grpc ÷ nginx grpc_pass, gRPC unary\s+0\.80×/);
  const withoutNginx = scenarioTable({ scenario, rows: rows.filter((r) => r.target !== 'nginx'), goals });
  assert.match(withoutNginx, /nginx: no row/);
});
