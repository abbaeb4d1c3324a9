// Write-to-applied latency: how long from an Admin API write until EVERY worker serves
// the new revision, with 10,000 routes present. The gateway runs on the sqlite store
// with two workers; each sample PUTs a route and then polls /status/ready (which is 200
// only once every worker reports the latest revision) as fast as the loop allows.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Agent, request } from 'undici';
import { ManagedProcess } from './procs.js';
import { REPO_ROOT } from './targets.js';

export interface ApplyLatencyResult {
  samples: number;
  routes: number;
  workers: number;
  applyP50Ms: number;
  applyP99Ms: number;
  applyMaxMs: number;
  writeP50Ms: number;
}

/** Waits (at most 30 s) for a gateway's `gatehouse started` line: its Admin API base URL and /status/ready URL. */
export async function waitForStart(gw: ManagedProcess): Promise<{ admin: string; ready: string }> {
  let started: { admin: { port: number }; status: { port: number } } | undefined;
  for (let i = 0; i < 600 && started === undefined; i++) {
    const line = gw.output(1_000_000).split('\n').find((l) => l.includes('gatehouse started'));
    if (line !== undefined) started = JSON.parse(line);
    else await new Promise((r) => setTimeout(r, 50));
    if (!gw.alive) throw new Error(`gateway exited: ${gw.output()}`);
  }
  if (started === undefined) throw new Error(`gateway did not start: ${gw.output()}`);
  return { admin: `http://127.0.0.1:${started.admin.port}/apisix/admin`, ready: `http://127.0.0.1:${started.status.port}/status/ready` };
}

/** Writes made and applied before the measured ones. */
export const APPLY_WARMUP_WRITES = 5;

export const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

export async function runApplyLatency(tmpDir: string, samples = 200, routes = 10_000, workers = 2): Promise<ApplyLatencyResult> {
  const conf = join(tmpDir, 'apply-config.yaml');
  const seed = join(tmpDir, 'apply-routes.yaml');
  const key = 'bench-admin-key';
  writeFileSync(seed, stringify({
    upstreams: [{ id: 'u', nodes: { '127.0.0.1:1': 1 } }],
    routes: Array.from({ length: routes }, (_, i) => ({ id: `r${i}`, uri: i % 2 === 0 ? `/api/v1/item-${i}` : `/svc-${i}/*`, upstream_id: 'u' })),
  }));
  writeFileSync(conf, stringify({
    node: { listen: [{ host: '127.0.0.1', port: 0 }], workers },
    admin: { listen: { host: '127.0.0.1', port: 0 }, keys: [{ name: 'bench', key, role: 'admin' }] },
    status: { listen: { host: '127.0.0.1', port: 0 } },
    store: { type: 'sqlite', sqlite: { path: join(tmpDir, 'apply.db'), seed } },
    data_dir: join(tmpDir, 'apply-data'),
    log: { level: 'info' },
  }));
  const gw = new ManagedProcess('gateway-apply', process.execPath, [join(REPO_ROOT, 'bin', 'gatehouse.js'), 'start', '-c', conf], { cwd: REPO_ROOT });
  try {
    const { admin, ready } = await waitForStart(gw);
    const agent = new Agent({ connections: 2 });
    const isReady = async (): Promise<boolean> => {
      const r = await request(ready, { dispatcher: agent });
      await r.body.dump();
      return r.statusCode === 200;
    };
    for (let i = 0; i < 400 && !(await isReady()); i++) await new Promise((r) => setTimeout(r, 50));

    const apply: number[] = [];
    const write: number[] = [];
    // The first writes after start compile the rebuild path (JIT): warm-up, not the steady state measured.
    for (let i = -APPLY_WARMUP_WRITES; i < samples; i++) {
      const t0 = performance.now();
      const res = await request(`${admin}/routes/apply-${i < 0 ? `warm${-i}` : i % 20}`, {
        method: 'PUT', dispatcher: agent, headers: { 'x-api-key': key, 'content-type': 'application/json' },
        body: JSON.stringify({ uri: `/apply/${i}`, upstream_id: 'u' }),
      });
      await res.body.dump();
      if (res.statusCode >= 300) throw new Error(`PUT answered ${res.statusCode}`);
      const written = performance.now() - t0;
      for (let polls = 0; !(await isReady()); polls++) {
        if (polls > 20_000) throw new Error('workers never applied the write');
      }
      if (i < 0) continue;
      write.push(written);
      apply.push(performance.now() - t0);
    }
    await agent.close();
    apply.sort((a, b) => a - b);
    write.sort((a, b) => a - b);
    return {
      samples, routes, workers,
      applyP50Ms: quantile(apply, 0.5), applyP99Ms: quantile(apply, 0.99), applyMaxMs: apply[apply.length - 1]!,
      writeP50Ms: quantile(write, 0.5),
    };
  } finally {
    await gw.stop();
  }
}

export function formatApplyLatency(r: ApplyLatencyResult): string {
  const goal = r.applyP99Ms < 100 ? 'met' : 'MISSED';
  return [
    `▸ Write-to-applied latency — Admin API PUT until every worker serves it (${r.routes.toLocaleString('en-US')} routes, ${r.workers} workers, ${r.samples} writes after ${APPLY_WARMUP_WRITES} unmeasured)`,
    `  write (PUT answered)   p50 ${r.writeP50Ms.toFixed(1)} ms`,
    `  applied on all workers p50 ${r.applyP50Ms.toFixed(1)} ms   p99 ${r.applyP99Ms.toFixed(1)} ms   max ${r.applyMaxMs.toFixed(1)} ms`,
    `  goal: p99 < 100 ms  →  ${r.applyP99Ms.toFixed(1)} ms  ${goal}`,
  ].join('\n');
}

