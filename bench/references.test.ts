import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseH2load } from './load.js';
import { which } from './procs.js';
import { goalLine, goalMet, goalsFor, summaryBlock, type Summary, type TargetRow } from './report.js';
import { SCENARIOS, haproxyConfig, type ScenarioId, type TargetId } from './scenarios.js';

// h2load 1.52's summary, as it prints it after a timing-based run (-D)
const H2LOAD_OUT = `finished in 2.00s, 27975.50 req/s, 928.98KB/s
requests: 55951 total, 55961 started, 55951 done, 55940 succeeded, 11 failed, 3 errored, 1 timeout
status codes: 55940 2xx, 0 3xx, 0 4xx, 7 5xx
traffic: 1.81MB (1902556) total, 54.73KB (56042) headers (space savings 95.34%), 136.60KB (139875) data
                     min         max         mean         sd        +/- sd
time for request:       87us     74.67ms       349us      1.65ms    97.78%
`;

test('parseH2load: req/s and counts from the summary, percentiles from the per-request log', () => {
  const log = Array.from({ length: 200 }, (_, i) => `1796433731062135\t200\t${(i + 1) * 10}`).join('\n') + '\n';
  const r = parseH2load(H2LOAD_OUT, log);
  assert.equal(r.rps, 27975.5);
  assert.equal(r.durationS, 2);
  assert.equal(r.requests, 55951);
  assert.equal(r.bytes, 1902556);
  assert.equal(r.non2xx, 7);
  assert.equal(r.errors, 4, 'failed minus error statuses: resets, connection errors, timeouts');
  assert.equal(r.p50Ms, 1);
  assert.equal(r.p99Ms, 1.98);
  assert.equal(r.maxMs, 2);
});

test('parseH2load: error statuses are not counted twice, and a short run in ms parses', () => {
  const out = 'finished in 2.56ms, 1563.11 req/s, 69.07KB/s\nrequests: 4 total, 4 started, 4 done, 0 succeeded, 4 failed, 0 errored, 0 timeout\nstatus codes: 0 2xx, 0 3xx, 0 4xx, 4 5xx\n';
  const r = parseH2load(out, '1\t503\t1007\n1\t503\t140\n1\t503\t91\n1\t503\t66\n');
  assert.equal(r.durationS, 0.00256);
  assert.deepEqual([r.non2xx, r.errors, r.p50Ms], [4, 0, 0.091]);
  assert.throws(() => parseH2load('connect failed', ''), /cannot parse h2load output/);
});

test('haproxyConfig: one thread, keep-alive both ways, no logs; haproxy -c accepts it where installed', (t) => {
  const cfg = haproxyConfig({ port: 18080, upstreamPort: 18081 });
  for (const line of ['nbthread 1', 'option http-keep-alive', 'http-reuse always', 'bind 127.0.0.1:18080', 'server upstream 127.0.0.1:18081']) {
    assert.match(cfg, new RegExp(`^\\s*${line}$`, 'm'), line);
  }
  assert.doesNotMatch(cfg, /^\s*log\b/m, 'no log target: logs off');
  if (which('haproxy') === undefined) { t.skip('haproxy is not installed'); return; }
  const dir = mkdtempSync(join(tmpdir(), 'bench-haproxy-'));
  try {
    writeFileSync(join(dir, 'haproxy.cfg'), cfg);
    execFileSync('haproxy', ['-c', '-q', '-f', join(dir, 'haproxy.cfg')], { stdio: 'pipe', timeout: 10_000 });
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

function rowsOf(entries: [TargetId, Partial<Summary>][]): TargetRow[] {
  return entries.map(([target, s]) => ({
    target, label: target, runs: [],
    summary: { rps: 0, p50Ms: 1, p99Ms: 1, spreadPct: 0, requests: 1, errors: 0, non2xx: 0, cpuUsPerRequest: undefined, rssMiB: 10, ...s },
  }));
}
const scenario = (id: ScenarioId) => SCENARIOS.find((s) => s.id === id)!;

test('1 MiB goals: throughput against HAProxy (a floor), p99 against nginx (a ceiling)', () => {
  const rows = rowsOf([['baseline', { rps: 900 }], ['gateway', { rps: 1000, p99Ms: 300 }], ['nginx', { rps: 900, p99Ms: 217 }], ['haproxy', { rps: 1300, p99Ms: 72 }]]);
  const goals = goalsFor(scenario('1m'), rows);
  assert.deepEqual(goals.map((g) => [g.label, Number(g.ratio?.toFixed(3)), goalMet(g)]), [
    ['gateway ÷ HAProxy (1 MiB)', 0.769, false],
    ['gateway p99 ÷ nginx p99 (1 MiB)', 1.382, true],
  ]);
  assert.equal(goalLine(goals[1]), 'goal: gateway p99 ÷ nginx p99 (1 MiB) ≤ 1.50×  →  1.38×  MET');
  const summary = summaryBlock([{ scenario: scenario('1m'), rows, goals }]);
  assert.match(summary, /gateway ÷ HAProxy, 1 MiB\s+0\.77×  goal ≥ 0\.80×  MISSED/);
  assert.match(summary, /gateway p99 ÷ nginx p99, 1 MiB \(lower: better\)\s+1\.38×  goal ≤ 1\.50×  MET/);
});

test('1 route goals follow issue 17, and a missing reference leaves its goal unmeasured', () => {
  const rows = rowsOf([['baseline', { rps: 10_000 }], ['gateway', { rps: 17_000 }], ['nginx', { rps: 40_000 }]]);
  const goals = goalsFor(scenario('1route'), rows.concat(rowsOf([['haproxy', {}]]).map((r) => ({ ...r, failure: 'did not start' }))));
  assert.deepEqual(goals.map((g) => [g.min, goalMet(g)]), [[1.6, true], [0.45, false]]);
  assert.deepEqual(goalsFor(scenario('plugins'), rows).map((g) => g.min), [0.9]);
  const withoutNginx = goalsFor({ ...scenario('64k'), targets: ['baseline', 'gateway'] }, rows);
  assert.deepEqual(withoutNginx, [], 'no nginx row, no nginx goal');
});
