// Medians, ratios, goals and the printed tables.
import type { LoadResult } from './load.js';
import { TARGET_LABELS, type Scenario, type ScenarioId, type TargetId } from './scenarios.js';

export interface Summary {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** (max - min) / 2 of the rounds' req/s, as a percentage of the median. */
  spreadPct: number;
  requests: number;
  errors: number;
  non2xx: number;
  /** Median CPU time of the target's process tree per request (µs); undefined without /proc. */
  cpuUsPerRequest: number | undefined;
  /** Median resident memory of the target's process tree at the end of the runs (MiB); undefined without /proc. */
  rssMiB: number | undefined;
}

export interface TargetRow {
  target: TargetId;
  label: string;
  runs: LoadResult[];
  /** Set when the target could not be measured (not started, bad preflight answer, died mid-run). */
  failure?: string;
  summary?: Summary;
  /** Set when more than 1% of the requests failed: the numbers do not measure proxying. */
  invalid?: string;
}

/** A ratio with a floor (`min`: req/s, higher is better) or a ceiling (`max`: latency, lower is better). */
export interface Goal { label: string; ratio: number | undefined; min?: number; max?: number; note?: string; num?: TargetId; den?: TargetId; metric?: 'p99Ms' }

export function goalMet(g: Goal): boolean | undefined {
  if (g.ratio === undefined) return undefined;
  return (g.min === undefined || g.ratio >= g.min) && (g.max === undefined || g.ratio <= g.max);
}

export interface ScenarioResult {
  scenario: Scenario;
  rows: TargetRow[];
  goals: Goal[];
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function summarize(row: TargetRow): void {
  if (row.runs.length === 0) return;
  const rps = row.runs.map((r) => r.rps);
  const med = median(rps);
  const sum = (f: (r: LoadResult) => number): number => row.runs.reduce((a, r) => a + f(r), 0);
  row.summary = {
    rps: med,
    p50Ms: median(row.runs.map((r) => r.p50Ms)),
    p99Ms: median(row.runs.map((r) => r.p99Ms)),
    spreadPct: med > 0 ? ((Math.max(...rps) - Math.min(...rps)) / 2 / med) * 100 : 0,
    requests: sum((r) => r.requests),
    errors: sum((r) => r.errors),
    non2xx: sum((r) => r.non2xx),
    cpuUsPerRequest: row.runs.every((r) => r.cpuUsPerRequest !== undefined) ? median(row.runs.map((r) => r.cpuUsPerRequest!)) : undefined,
    rssMiB: row.runs.every((r) => r.rssMiB !== undefined) ? median(row.runs.map((r) => r.rssMiB!)) : undefined,
  };
  const bad = row.summary.errors + row.summary.non2xx;
  if (row.summary.requests === 0) row.invalid = 'no request completed';
  else if (bad / row.summary.requests > 0.01) {
    row.invalid = `${bad} of ${row.summary.requests} requests failed (${row.summary.errors} socket errors/timeouts, ${row.summary.non2xx} non-2xx)`;
  }
}

function summaryOf(rows: TargetRow[], t: TargetId): Summary | undefined {
  const row = rows.find((r) => r.target === t);
  return row?.summary !== undefined && row.invalid === undefined && row.failure === undefined ? row.summary : undefined;
}

export function ratio(rows: TargetRow[], num: TargetId, den: TargetId, metric: 'rps' | 'p99Ms' = 'rps'): number | undefined {
  const a = summaryOf(rows, num)?.[metric], b = summaryOf(rows, den)?.[metric];
  return a !== undefined && b !== undefined && b > 0 ? a / b : undefined;
}

interface GoalSpec { num: TargetId; den: TargetId; label: string; min?: number; max?: number; metric?: 'p99Ms' }

// Issue 17 raised the 1-route goal to 1.6× the baseline (from 1.0×), added the nginx and HAProxy
// ones, and the 5-plugin one to 0.9× (from 0.85×).
const GOALS: Partial<Record<ScenarioId, GoalSpec[]>> = {
  '1route': [
    { num: 'gateway', den: 'baseline', min: 1.6, label: 'gateway ÷ baseline (1 route)' },
    { num: 'gateway', den: 'nginx', min: 0.45, label: 'gateway ÷ nginx (1 route)' },
  ],
  '10k': [{ num: 'gateway-10k', den: 'gateway', min: 0.95, label: 'gateway 10k routes ÷ gateway 1 route' }],
  plugins: [{ num: 'gateway-plugins', den: 'gateway', min: 0.9, label: 'gateway with 5 plugins ÷ gateway without' }],
  security: [{ num: 'gateway-security', den: 'gateway', min: 0.7, label: 'gateway with key-auth + waf + request-validation ÷ gateway without' }],
  wasm: [{ num: 'gateway-wasm', den: 'gateway', min: 0.85, label: 'gateway with a wasm plugin ÷ gateway without' }],
  cache: [{ num: 'gateway-cache', den: 'gateway', min: 1.5, label: 'gateway with proxy-cache (every request a hit) ÷ gateway without' }],
  deadlog: [{ num: 'gateway-deadlog', den: 'gateway', min: 0.95, label: 'gateway with a dead log sink ÷ gateway without' }],
  otel: [
    { num: 'gateway-otel', den: 'gateway', min: 0.85, label: 'gateway with opentelemetry (every request sampled) ÷ gateway without' },
    { num: 'gateway-otel-dead', den: 'gateway-otel', min: 0.95, label: 'opentelemetry with a dead collector ÷ with a live one' },
  ],
  '64k': [{ num: 'gateway', den: 'nginx', min: 0.6, label: 'gateway ÷ nginx (64 KiB)' }],
  '1m': [
    { num: 'gateway', den: 'haproxy', min: 0.8, label: 'gateway ÷ HAProxy (1 MiB)' },
    { num: 'gateway', den: 'nginx', max: 1.5, metric: 'p99Ms', label: 'gateway p99 ÷ nginx p99 (1 MiB)' },
  ],
};

/** The issue 16 goal: what the gateway (ai-proxy + ai-statistics) adds to a streamed chat's time to first token, p50. The AI throughput ratio has none. */
export const AI_TTFT_GOAL_MS = 1;

/** Ratio of the median CPU time per request of two rows (lower than 1: `num` does the same work with less CPU). */
export function cpuRatio(rows: TargetRow[], num: TargetId, den: TargetId): number | undefined {
  const a = rows.find((r) => r.target === num)?.summary?.cpuUsPerRequest;
  const b = rows.find((r) => r.target === den)?.summary?.cpuUsPerRequest;
  return a !== undefined && b !== undefined && b > 0 ? a / b : undefined;
}

export function goalsFor(scenario: Scenario, rows: TargetRow[]): Goal[] {
  return (GOALS[scenario.id] ?? [])
    .filter((g) => scenario.targets.includes(g.num) && scenario.targets.includes(g.den))
    .map((g) => ({ ...g, ratio: ratio(rows, g.num, g.den, g.metric) }));
}

// ---- formatting -------------------------------------------------------------------------------

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const fmtRps = (n: number): string => int.format(n);
const fmtMs = (n: number): string => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0)) : '-');
export const fmtRatio = (r: number | undefined): string => (r === undefined ? 'n/a' : `${r.toFixed(2)}×`);
export function fmtBytes(n: number): string {
  const whole = (x: number): string => (Number.isInteger(x) ? String(x) : x.toFixed(1));
  return n >= 1024 * 1024 ? `${whole(n / 1024 / 1024)} MiB` : n >= 1024 ? `${whole(n / 1024)} KiB` : `${n} B`;
}

function pad(s: string, w: number, right: boolean): string {
  const len = [...s].length;
  return len >= w ? s : right ? ' '.repeat(w - len) + s : s + ' '.repeat(w - len);
}

function goalBound(g: Goal): string {
  return [g.min === undefined ? '' : `≥ ${g.min.toFixed(2)}×`, g.max === undefined ? '' : `≤ ${g.max.toFixed(2)}×`].filter((b) => b !== '').join(' and ');
}

function goalVerdict(g: Goal): string {
  const met = goalMet(g);
  return met === undefined ? 'not measured' : met ? 'MET' : 'MISSED';
}

export function goalLine(g: Goal): string {
  return `goal: ${g.label} ${goalBound(g)}  →  ${fmtRatio(g.ratio)}  ${goalVerdict(g)}`;
}

export function scenarioTable(res: ScenarioResult): string {
  const { scenario, rows } = res;
  const lines: string[] = [];
  const sent = scenario.request === undefined ? '' : ` with a ${fmtBytes(Buffer.byteLength(scenario.request.body))} body`;
  lines.push(`▸ ${scenario.title} — ${scenario.request?.method ?? 'GET'} ${scenario.path}${sent} (${fmtBytes(scenario.bodyBytes)} response)`);
  const reference = scenario.reference ?? 'baseline';
  const head = ['target', 'req/s', 'spread', 'p50 ms', 'p99 ms', 'errors', `÷ ${reference === 'llm-direct' || reference === 'grpc-direct' ? 'direct' : reference}`, 'CPU µs/req', 'RSS MiB'];
  const widths = [24, 9, 8, 8, 8, 8, 11, 11, 8];
  const right = [false, true, true, true, true, true, true, true, true];
  const fmtRow = (cells: string[]): string => '  ' + cells.map((c, i) => pad(c, widths[i], right[i])).join(' ');
  lines.push(fmtRow(head));
  const notes: string[] = [];
  for (const row of rows) {
    const label = row.label + (row.invalid !== undefined ? ' !' : '');
    if (row.failure !== undefined && row.summary === undefined) {
      lines.push(fmtRow([label, 'FAILED', '', '', '', '', '', '', '']));
      notes.push(`  ${row.label}: ${row.failure.split('\n').join('\n  ')}`);
      continue;
    }
    const s = row.summary;
    if (s === undefined) continue;
    const r = row.target === reference ? (row.invalid === undefined ? 1 : undefined) : ratio(rows, row.target, reference);
    const cpu = s.cpuUsPerRequest === undefined ? '-' : s.cpuUsPerRequest.toFixed(1);
    const rss = s.rssMiB === undefined ? '-' : s.rssMiB.toFixed(1);
    lines.push(fmtRow([label, fmtRps(s.rps), `±${s.spreadPct.toFixed(1)}%`, fmtMs(s.p50Ms), fmtMs(s.p99Ms), int.format(s.errors + s.non2xx), fmtRatio(r), cpu, rss]));
    if (row.invalid !== undefined) notes.push(`  ! ${row.label}: ${row.invalid} — not comparable`);
    if (row.failure !== undefined) notes.push(`  ${row.label}: ${row.failure.split('\n').join('\n  ')}`);
  }
  if (scenario.id === '10k') {
    lines.push(`  gateway (10k routes) ÷ gateway (1 route): ${fmtRatio(ratio(rows, 'gateway-10k', 'gateway'))}`);
  }
  if (scenario.id === 'wasm') {
    lines.push(`  gateway (wasm plugin) ÷ gateway (no plugins): ${fmtRatio(ratio(rows, 'gateway-wasm', 'gateway'))}`);
    lines.push(`  gateway (TS plugin) ÷ gateway (no plugins): ${fmtRatio(ratio(rows, 'gateway-ts', 'gateway'))}`);
  }
  if (scenario.id === 'transformer') {
    lines.push(`  gateway (transformer, JSON body) ÷ gateway (no plugins): ${fmtRatio(ratio(rows, 'gateway-transformer', 'gateway'))}`);
  }
  if (scenario.id === 'cache') {
    lines.push(`  gateway (proxy-cache, all hits) ÷ gateway (no plugins): ${fmtRatio(ratio(rows, 'gateway-cache', 'gateway'))}`);
  }
  if (scenario.id === 'security') {
    lines.push(`  gateway (key-auth + waf + request-validation) ÷ gateway (no plugins): ${fmtRatio(ratio(rows, 'gateway-security', 'gateway'))}`);
  }
  if (scenario.id === 'deadlog') {
    lines.push(`  gateway (dead log sink) ÷ gateway (no plugins): ${fmtRatio(ratio(rows, 'gateway-deadlog', 'gateway'))}`);
  }
  if (scenario.id === 'otel') {
    lines.push(`  gateway (opentelemetry, every request sampled) ÷ gateway (no plugins): ${fmtRatio(ratio(rows, 'gateway-otel', 'gateway'))}`);
    lines.push(`  gateway (opentelemetry, ratio 0: trace context only) ÷ gateway (no plugins): ${fmtRatio(ratio(rows, 'gateway-otel-unsampled', 'gateway'))}  (no goal: shows what sampling costs on top)`);
    lines.push(`  opentelemetry, dead collector ÷ live collector: ${fmtRatio(ratio(rows, 'gateway-otel-dead', 'gateway-otel'))}`);
  }
  if (scenario.id === 'ai') {
    lines.push(`  gateway (ai-proxy + ai-statistics) ÷ fake LLM (direct): ${fmtRatio(ratio(rows, 'gateway-ai', 'llm-direct'))}  (no throughput goal in the issue)`);
  }
  if (scenario.id === 'plugins') {
    lines.push(`  gateway (5 plugins) ÷ gateway (no plugins): ${fmtRatio(ratio(rows, 'gateway-plugins', 'gateway'))}`);
  }
  if (scenario.id === 'grpc') {
    lines.push(`  gateway (grpc route) ÷ gRPC server (direct): ${fmtRatio(ratio(rows, 'gateway-grpc', 'grpc-direct'))}  (no goal in the issue)`);
    if (rows.some((r) => r.target === 'nginx')) lines.push(`  gateway (grpc route) ÷ nginx (grpc_pass): ${fmtRatio(ratio(rows, 'gateway-grpc', 'nginx'))}`);
    else lines.push('  nginx: no row (not installed, or built without its gRPC module)');
  }
  for (const g of res.goals) lines.push(`  ${goalLine(g)}`);
  lines.push(...notes);
  return lines.join('\n');
}

export function summaryBlock(results: ScenarioResult[]): string {
  const lines = ['Summary (req/s ratios, medians of interleaved rounds)'];
  const fmtRowS = (a: string, b: string, c: string): string => `  ${pad(a, 52, false)} ${pad(b, 7, true)}  ${c}`;
  for (const res of results) {
    const rows = res.rows;
    const add = (label: string, r: number | undefined, goal?: Goal): void => {
      lines.push(fmtRowS(label, fmtRatio(r), goal === undefined ? '' : `goal ${goalBound(goal)}  ${goalVerdict(goal)}`));
    };
    const goalOf = (num: TargetId, den: TargetId, metric?: 'p99Ms'): Goal | undefined => res.goals.find((g) => g.num === num && g.den === den && g.metric === metric);
    const goal = res.goals[0];
    const name = res.scenario.id === '1route' ? '1 route' : res.scenario.id === '10k' ? '10k-routes case' : res.scenario.id === 'h2' ? 'h2c, 100 streams' : res.scenario.id === 'plugins' ? 'same request' : fmtBytes(res.scenario.bodyBytes);
    const has = (t: TargetId): boolean => rows.some((r) => r.target === t);
    /** `num` ÷ nginx and ÷ HAProxy, where they ran: every ratio to them measured in this run. */
    const toReferences = (num: TargetId, what: string): void => {
      if (has('nginx')) add(`${what} ÷ nginx, ${name}`, ratio(rows, num, 'nginx'), goalOf(num, 'nginx'));
      if (has('haproxy')) add(`${what} ÷ HAProxy, ${name}`, ratio(rows, num, 'haproxy'), goalOf(num, 'haproxy'));
    };
    if (res.scenario.id === 'h2') {
      toReferences('gateway', 'gateway');
      continue;
    }
    if (res.scenario.id === 'grpc') {
      add('gateway grpc ÷ gRPC server direct, unary (no goal)', ratio(rows, 'gateway-grpc', 'grpc-direct'));
      if (has('nginx')) {
        add('gateway grpc ÷ nginx grpc_pass, gRPC unary', ratio(rows, 'gateway-grpc', 'nginx'));
        add('nginx grpc_pass ÷ gRPC server direct (reference)', ratio(rows, 'nginx', 'grpc-direct'));
      }
      continue;
    }
    if (res.scenario.id === 'plugins') {
      add('gateway 5 plugins ÷ gateway no plugins', ratio(rows, 'gateway-plugins', 'gateway'), goal);
      toReferences('gateway-plugins', 'gateway 5 plugins');
      continue;
    }
    if (res.scenario.id === 'wasm') {
      add('gateway wasm plugin ÷ gateway no plugins', ratio(rows, 'gateway-wasm', 'gateway'), goal);
      add('gateway TS plugin ÷ gateway no plugins', ratio(rows, 'gateway-ts', 'gateway'));
      continue;
    }
    if (res.scenario.id === 'transformer') {
      add('gateway transformer (JSON body) ÷ gateway no plugins (no goal)', ratio(rows, 'gateway-transformer', 'gateway'));
      continue;
    }
    if (res.scenario.id === 'cache') {
      add('gateway proxy-cache (all hits) ÷ gateway no plugins', ratio(rows, 'gateway-cache', 'gateway'), goal);
      continue;
    }
    if (res.scenario.id === 'security') {
      add('gateway key-auth+waf+validation ÷ gateway no plugins', ratio(rows, 'gateway-security', 'gateway'), goal);
      continue;
    }
    if (res.scenario.id === 'ai') {
      add('gateway ai-proxy+ai-statistics ÷ fake LLM direct (no goal)', ratio(rows, 'gateway-ai', 'llm-direct'));
      continue;
    }
    if (res.scenario.id === 'deadlog') {
      add('gateway dead log sink ÷ gateway no plugins', ratio(rows, 'gateway-deadlog', 'gateway'), goal);
      continue;
    }
    if (res.scenario.id === 'otel') {
      add('gateway opentelemetry (ratio 1.0) ÷ gateway no plugins', ratio(rows, 'gateway-otel', 'gateway'), goalOf('gateway-otel', 'gateway'));
      add('gateway opentelemetry (ratio 0) ÷ gateway no plugins', ratio(rows, 'gateway-otel-unsampled', 'gateway'));
      add('opentelemetry dead collector ÷ live collector', ratio(rows, 'gateway-otel-dead', 'gateway-otel'), goalOf('gateway-otel-dead', 'gateway-otel'));
      continue;
    }
    if (res.scenario.id === '10k') {
      add('gateway 10k routes ÷ gateway 1 route', ratio(rows, 'gateway-10k', 'gateway'), goal);
      add('gateway 10k routes ÷ baseline', ratio(rows, 'gateway-10k', 'baseline'));
      continue;
    }
    if (has('gateway')) add(`gateway ÷ baseline, ${name}`, ratio(rows, 'gateway', 'baseline'), goalOf('gateway', 'baseline'));
    if (res.scenario.id === '1route' && has('gateway') && has('baseline')) add('CPU per request, gateway ÷ baseline (lower: cheaper)', cpuRatio(rows, 'gateway', 'baseline'));
    if (has('gateway')) toReferences('gateway', 'gateway');
    if (has('gateway') && has('nginx') && res.scenario.id === '1m') add(`gateway p99 ÷ nginx p99, ${name} (lower: better)`, ratio(rows, 'gateway', 'nginx', 'p99Ms'), goalOf('gateway', 'nginx', 'p99Ms'));
    if (has('nginx')) add(`nginx ÷ baseline, ${name} (reference)`, ratio(rows, 'nginx', 'baseline'));
    if (has('haproxy')) add(`HAProxy ÷ baseline, ${name} (reference)`, ratio(rows, 'haproxy', 'baseline'));
  }
  return lines.join('\n');
}

export function labelOf(t: TargetId): string { return TARGET_LABELS[t]; }
