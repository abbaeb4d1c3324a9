// One bounded load run against one URL, in a separate process: wrk (preferred, cheaper on CPU)
// or autocannon (through bench/autocannon-worker.ts). Both report the same LoadResult.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManagedProcess, which } from './procs.js';
import type { BenchRequest } from './scenarios.js';

export type LoaderName = 'wrk' | 'autocannon';

export interface LoadResult {
  requests: number;
  durationS: number;
  rps: number;
  bytes: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  /** Socket errors and timeouts. */
  errors: number;
  /** Responses that were not 2xx (autocannon) / had status >= 400 (wrk). */
  non2xx: number;
  /** CPU time the measured process tree used per request (µs), where /proc tells; set by the harness. */
  cpuUsPerRequest?: number;
}

export interface LoadOptions {
  loader: LoaderName;
  url: string;
  connections: number;
  /** Whole seconds (wrk takes no fractions). */
  durationS: number;
  /** Folder for the wrk Lua script. */
  tmpDir: string;
  /** Method, headers and body of every request; a plain GET without. */
  request?: BenchRequest;
}

// wrk's done() hook prints exact percentiles (microseconds) instead of its rounded text summary.
const WRK_LUA = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.3f,' ..
    '"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d}\\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.timeout, e.status))
end
`;

const wrkScripts = new Map<BenchRequest | undefined, string>();

/** The wrk script: the report hook, and the request every connection sends when there is one. */
function wrkScriptFor(tmpDir: string, request: BenchRequest | undefined): string {
  let file = wrkScripts.get(request);
  if (file !== undefined) return file;
  file = join(tmpDir, `bench-report-${wrkScripts.size}.lua`);
  const setup = request === undefined ? '' : [
    `wrk.method = ${JSON.stringify(request.method)}`,
    `wrk.body = ${JSON.stringify(request.body)}`,
    ...Object.entries(request.headers).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`),
  ].join('\n');
  writeFileSync(file, `${setup}\n${WRK_LUA}`);
  wrkScripts.set(request, file);
  return file;
}

export function loaderAvailable(name: LoaderName): boolean {
  return name === 'autocannon' || which('wrk') !== undefined;
}

export async function loaderVersion(name: LoaderName): Promise<string> {
  if (name === 'autocannon') {
    const { createRequire } = await import('node:module');
    const pkg = createRequire(import.meta.url)('autocannon/package.json') as { version: string };
    return `autocannon ${pkg.version}`;
  }
  const p = new ManagedProcess('wrk', 'wrk', ['--version']);
  await p.exited;
  return p.output().split('\n')[0]?.replace(/\s*Copyright.*$/, '') ?? 'wrk';
}

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const budgetMs = (opts.durationS + 20) * 1000;
  let proc: ManagedProcess;
  if (opts.loader === 'wrk') {
    const wrkScript = wrkScriptFor(opts.tmpDir, opts.request);
    // One thread: on a 2-core machine the load generator gets one core, the target the other.
    proc = new ManagedProcess('wrk', 'wrk', ['-t1', `-c${opts.connections}`, `-d${opts.durationS}s`, '--timeout', '10s', '--latency', '-s', wrkScript, opts.url]);
  } else {
    const worker = fileURLToPath(new URL('./autocannon-worker.js', import.meta.url));
    const request = opts.request === undefined ? [] : [JSON.stringify(opts.request)];
    proc = new ManagedProcess('autocannon', process.execPath, [worker, opts.url, String(opts.connections), String(opts.durationS), ...request]);
  }
  const timer = setTimeout(() => proc.killNow(), budgetMs);
  const code = await proc.exited;
  clearTimeout(timer);
  const out = proc.output(1_000_000);
  if (code !== 0) throw new Error(`${proc.name} failed (${proc.exitDescription}):\n${proc.output()}`);
  return opts.loader === 'wrk' ? parseWrk(out) : parseAutocannon(out);
}

function parseWrk(out: string): LoadResult {
  const line = out.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (line !== undefined) {
    const j = JSON.parse(line.slice(11)) as Record<string, number>;
    const durationS = j.duration_us / 1e6;
    return {
      requests: j.requests, durationS, rps: durationS > 0 ? j.requests / durationS : 0, bytes: j.bytes,
      p50Ms: j.p50_us / 1000, p90Ms: j.p90_us / 1000, p99Ms: j.p99_us / 1000, maxMs: j.max_us / 1000, meanMs: j.mean_us / 1000,
      errors: j.connect + j.read + j.write + j.timeout, non2xx: j.status,
    };
  }
  return parseWrkText(out);
}

/** Fallback: wrk's text summary (`--latency` style distribution), for builds without Lua hooks. */
function parseWrkText(out: string): LoadResult {
  const toMs = (v: string, unit: string): number => Number(v) * (unit === 'us' ? 0.001 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 1);
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m)\\b`, 'm').exec(out);
    return m === null ? NaN : toMs(m[1], m[2]);
  };
  const reqs = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(out);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (reqs === null || rps === null) throw new Error(`cannot parse wrk output:\n${out.slice(-1500)}`);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const lat = /Latency\s+([\d.]+)(us|ms|s|m)\s+[\d.]+\w+\s+([\d.]+)(us|ms|s|m)/.exec(out);
  return {
    requests: Number(reqs[1]), durationS: toMs(reqs[2], reqs[3]) / 1000, rps: Number(rps[1]), bytes: 0,
    p50Ms: pct('50'), p90Ms: pct('90'), p99Ms: pct('99'),
    maxMs: lat === null ? NaN : toMs(lat[3], lat[4]), meanMs: lat === null ? NaN : toMs(lat[1], lat[2]),
    errors: sock === null ? 0 : sock.slice(1).reduce((a, b) => a + Number(b), 0),
    non2xx: non2xx === null ? 0 : Number(non2xx[1]),
  };
}

function parseAutocannon(out: string): LoadResult {
  const line = out.split('\n').reverse().find((l) => l.startsWith('{'));
  if (line === undefined) throw new Error(`cannot parse autocannon output:\n${out.slice(-1500)}`);
  const j = JSON.parse(line) as Omit<LoadResult, 'rps'>;
  return { ...j, rps: j.durationS > 0 ? j.requests / j.durationS : 0 };
}
