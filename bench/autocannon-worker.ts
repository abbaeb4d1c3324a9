// Load-generator child process for `--loader=autocannon`: runs autocannon through its API and prints
// one JSON line. autocannon's own histogram stores whole milliseconds, too coarse for sub-millisecond
// p50s, so latencies are collected here from its 'response' events (float ms) and sorted at the end.
// Usage: node dist/bench/autocannon-worker.js <url> <connections> <durationSeconds> [<request JSON: method, headers, body>]
import { createRequire } from 'node:module';

interface AutocannonResult {
  duration: number; errors: number; timeouts: number; non2xx: number;
  requests: { total: number }; throughput: { total: number };
}
interface AutocannonInstance {
  on(event: 'response', fn: (client: unknown, statusCode: number, resBytes: number, responseTimeMs: number) => void): void;
}
type Autocannon = (opts: Record<string, unknown>, cb: (err: Error | null, result: AutocannonResult) => void) => AutocannonInstance;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
const [url, connections, duration, request] = process.argv.slice(2);
if (url === undefined || connections === undefined || duration === undefined) {
  process.stderr.write('usage: autocannon-worker <url> <connections> <durationSeconds>\n');
  process.exit(2);
}

let samples = new Float64Array(1 << 18);
let n = 0;
const requestOpts = request === undefined ? {} : JSON.parse(request) as Record<string, unknown>;
const instance = autocannon({ url, connections: Number(connections), duration: Number(duration), pipelining: 1, timeout: 10, ...requestOpts }, (err, result) => {
  if (err !== null) { process.stderr.write(`autocannon: ${err.message}\n`); process.exit(1); }
  const sorted = samples.subarray(0, n).sort();
  const pct = (p: number): number => (n === 0 ? 0 : sorted[Math.min(n - 1, Math.ceil((p / 100) * n) - 1)]);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i];
  process.stdout.write(JSON.stringify({
    requests: result.requests.total,
    durationS: result.duration,
    bytes: result.throughput.total,
    p50Ms: pct(50), p90Ms: pct(90), p99Ms: pct(99), maxMs: n === 0 ? 0 : sorted[n - 1], meanMs: n === 0 ? 0 : sum / n,
    errors: result.errors, // includes timeouts
    non2xx: result.non2xx,
  }) + '\n');
});
instance.on('response', (_client, _status, _bytes, ms) => {
  if (n === samples.length) { const bigger = new Float64Array(samples.length * 2); bigger.set(samples); samples = bigger; }
  samples[n++] = ms;
});
