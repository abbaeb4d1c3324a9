// One bounded load run against one URL, in a separate process: wrk (preferred, cheaper on CPU)
// or autocannon (through bench/autocannon-worker.ts) for HTTP/1.1, h2load for the h2 scenario.
// All report the same LoadResult.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManagedProcess, which } from './procs.js';
import { H2_CONNECTIONS, H2_STREAMS_PER_CONNECTION, type BenchRequest } from './scenarios.js';

/** HTTP/1.1 loaders (`--loader`); h2load loads the h2 scenario only. */
export type LoaderName = 'wrk' | 'autocannon';
export type AnyLoaderName = LoaderName | 'h2load';

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
  /** Resident memory of the measured process tree at the end of the run (MiB), where /proc tells; set by the harness. */
  rssMiB?: number;
}

export interface LoadOptions {
  loader: AnyLoaderName;
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

export function loaderAvailable(name: AnyLoaderName): boolean {
  return name === 'autocannon' || which(name) !== undefined;
}

export async function loaderVersion(name: AnyLoaderName): Promise<string> {
  if (name === 'autocannon') {
    const { createRequire } = await import('node:module');
    const pkg = createRequire(import.meta.url)('autocannon/package.json') as { version: string };
    return `autocannon ${pkg.version}`;
  }
  const p = new ManagedProcess(name, name, ['--version']);
  await p.exited;
  return p.output().split('\n')[0]?.replace(/\s*Copyright.*$/, '') ?? name;
}

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const budgetMs = (opts.durationS + 20) * 1000;
  let proc: ManagedProcess;
  const h2LogFile = join(opts.tmpDir, 'h2load-requests.tsv');
  if (opts.loader === 'h2load') {
    proc = new ManagedProcess('h2load', 'h2load', h2loadArgs(opts, h2LogFile), { cpu: 'driver' });
  } else if (opts.loader === 'wrk') {
    const wrkScript = wrkScriptFor(opts.tmpDir, opts.request);
    // One thread: on a 2-core machine the load generator gets one core, the target the other.
    proc = new ManagedProcess('wrk', 'wrk', ['-t1', `-c${opts.connections}`, `-d${opts.durationS}s`, '--timeout', '10s', '--latency', '-s', wrkScript, opts.url], { cpu: 'driver' });
  } else {
    const worker = fileURLToPath(new URL('./autocannon-worker.js', import.meta.url));
    const request = opts.request === undefined ? [] : [JSON.stringify(opts.request)];
    proc = new ManagedProcess('autocannon', process.execPath, [worker, opts.url, String(opts.connections), String(opts.durationS), ...request], { cpu: 'driver' });
  }
  const timer = setTimeout(() => proc.killNow(), budgetMs);
  const code = await proc.exited;
  clearTimeout(timer);
  const out = proc.output(1_000_000);
  if (code !== 0) throw new Error(`${proc.name} failed (${proc.exitDescription}):\n${proc.output()}`);
  if (opts.loader === 'h2load') {
    try { return parseH2load(out, readFileSync(h2LogFile, 'utf8')); } finally { rmSync(h2LogFile, { force: true }); }
  }
  return opts.loader === 'wrk' ? parseWrk(out) : parseAutocannon(out);
}

/**
 * h2load's command line. Fixed shape whatever --connections says: 100 concurrent streams on a few
 * connections, one thread; --log-file has every request's time (h2load's own summary has no
 * percentiles). A request body goes in a file beside the log (`-d`: h2load then POSTs), its
 * headers as `-H`.
 */
export function h2loadArgs(opts: Pick<LoadOptions, 'url' | 'durationS' | 'request' | 'tmpDir'>, logFile: string): string[] {
  const args = ['-t1', `-c${H2_CONNECTIONS}`, `-m${H2_STREAMS_PER_CONNECTION}`, `-D${opts.durationS}`, `--log-file=${logFile}`];
  if (opts.request !== undefined) {
    const data = join(opts.tmpDir, 'h2load-request.bin');
    writeFileSync(data, Buffer.from(opts.request.body, 'latin1'));
    args.push('-d', data);
    for (const [name, value] of Object.entries(opts.request.headers)) args.push('-H', `${name}: ${value}`);
  }
  return [...args, opts.url];
}

/**
 * h2load's summary (`finished in 2.00s, 1234.50 req/s, …`, the `requests:` and `status codes:`
 * lines) and its `--log-file` (one line per request: start µs, status, µs to the end of the
 * response), from which the percentiles come.
 */
export function parseH2load(out: string, requestLog: string): LoadResult {
  const finished = /finished in ([\d.]+)(us|ms|s),\s+([\d.]+) req\/s/.exec(out);
  const reqs = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const traffic = /traffic: \S+ \((\d+)\) total/.exec(out);
  if (finished === null || reqs === null || codes === null) throw new Error(`cannot parse h2load output:\n${out.slice(-1500)}`);
  const durationS = Number(finished[1]) / (finished[2] === 'us' ? 1e6 : finished[2] === 'ms' ? 1e3 : 1);
  const times: number[] = [];
  for (const line of requestLog.split('\n')) {
    const us = Number(line.split('\t')[2]);
    if (line !== '' && Number.isFinite(us)) times.push(us / 1000);
  }
  times.sort((a, b) => a - b);
  const pct = (p: number): number => (times.length === 0 ? NaN : times[Math.min(times.length - 1, Math.ceil((p / 100) * times.length) - 1)]);
  const [failed, errored, timeout] = [Number(reqs[5]), Number(reqs[6]), Number(reqs[7])];
  const non2xx = Number(codes[3]) + Number(codes[4]);
  const done = Number(reqs[3]);
  return {
    requests: done, durationS, rps: Number(finished[3]), bytes: traffic === null ? 0 : Number(traffic[1]),
    p50Ms: pct(50), p90Ms: pct(90), p99Ms: pct(99), maxMs: times.length === 0 ? NaN : times[times.length - 1],
    meanMs: times.length === 0 ? NaN : times.reduce((a, b) => a + b, 0) / times.length,
    // `failed` counts error statuses too: what is left are resets, connection errors and timeouts
    errors: Math.max(failed - non2xx, errored + timeout), non2xx,
  };
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
