// Cluster mode latencies, on a real etcd (Debian's etcd-server) and three gateway nodes
// with one worker each:
//   - write-to-applied: an Admin API PUT on node A until nodes B and C both serve it
//     (their /status/ready is 200 at a revision at least A's after the write), with
//     10,000 routes in etcd. Goal: p99 under 500 ms.
//   - publish-to-serving: a new version of a marketplace plugin published on A until B and
//     C serve it (their primaries fetch the binary from etcd's chunks, check its sha256,
//     and their workers compile it). Goal: under 1 s.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Agent, request } from 'undici';
import { ManagedProcess } from './procs.js';
import { REPO_ROOT } from './targets.js';
import { waitForStart } from './apply-latency.js';

export interface ClusterLatencyResult {
  nodes: number;
  routes: number;
  writes: number;
  writeP50Ms: number;
  appliedP50Ms: number;
  appliedP99Ms: number;
  appliedMaxMs: number;
  publishes: number;
  publishServingP50Ms: number;
  publishServingP99Ms: number;
}

const KEY = 'bench-admin-key';
const PREFIX = '/gatehouse-bench';
const WARMUP_WRITES = 5;
const SEED_CONCURRENCY = 64;

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

/** Why the cluster latency cannot be measured here (no etcd binary), or undefined. */
export async function clusterBenchUnavailable(): Promise<string | undefined> {
  const { spawnSync } = await import('node:child_process');
  const probe = spawnSync('etcd', ['--version'], { encoding: 'utf8' });
  return probe.error !== undefined || probe.status !== 0 ? 'the etcd binary is missing (apt-get install -y etcd-server)' : undefined;
}

export async function runClusterLatency(tmpDir: string, upstreamPort: number, writes = 200, publishes = 20, routes = 10_000): Promise<ClusterLatencyResult> {
  const { startEtcd } = await import('../test/helpers/etcd-server.js');
  const { EtcdStore } = await import('../src/config-store/etcd-store.js');
  const { headerStampPlugin, sendPublishForm } = await import('../test/helpers/custom-plugins.js');
  const etcd = await startEtcd();
  const gateways: ManagedProcess[] = [];
  const agent = new Agent({ connections: 8 });
  try {
    const store = new EtcdStore({ endpoints: [etcd.endpoint], prefix: PREFIX });
    const upstream = { nodes: { [`127.0.0.1:${upstreamPort}`]: 1 } };
    await store.put('upstreams', 'u', upstream);
    let next = 0;
    await Promise.all(Array.from({ length: SEED_CONCURRENCY }, async () => {
      for (let i = next++; i < routes; i = next++) {
        await store.put('routes', `r${i}`, { uri: i % 2 === 0 ? `/api/v1/item-${i}` : `/svc-${i}/*`, upstream_id: 'u' });
      }
    }));
    await store.close();

    const nodes = [];
    for (let n = 0; n < 3; n++) {
      const dir = join(tmpDir, `cluster-node-${n}`);
      mkdirSync(dir, { recursive: true });
      const conf = join(dir, 'config.yaml');
      writeFileSync(conf, stringify({
        node: { listen: [{ host: '127.0.0.1', port: 0 }], workers: 1 },
        admin: { listen: { host: '127.0.0.1', port: 0 }, keys: [{ name: 'bench', key: KEY, role: 'admin' }] },
        status: { listen: { host: '127.0.0.1', port: 0 } },
        prometheus: { enabled: false },
        store: { type: 'etcd', etcd: { endpoints: [etcd.endpoint], prefix: PREFIX } },
        data_dir: join(dir, 'data'),
        log: { level: 'info' },
      }));
      const gw = new ManagedProcess(`gateway-node-${n}`, process.execPath, [join(REPO_ROOT, 'bin', 'gatehouse.js'), 'start', '-c', conf], { cwd: REPO_ROOT });
      gateways.push(gw);
      nodes.push(await waitForStart(gw));
    }
    const [a, ...others] = nodes as [typeof nodes[0], ...typeof nodes];

    const readiness = async (url: string): Promise<{ ok: boolean; revision: number }> => {
      const r = await request(url, { dispatcher: agent });
      const body = await r.body.json() as { revision: number };
      return { ok: r.statusCode === 200, revision: body.revision };
    };
    /** Until B and C serve at least the revision A is at now. */
    const appliedElsewhere = async (what: string): Promise<void> => {
      const target = (await readiness(a.ready)).revision;
      for (const node of others) {
        for (let polls = 0; ; polls++) {
          const r = await readiness(node.ready);
          if (r.ok && r.revision >= target) break;
          if (polls > 20_000) throw new Error(`a node never applied ${what} (revision ${target})`);
        }
      }
    };
    const put = async (path: string, body: unknown): Promise<void> => {
      const r = await request(`${a.admin}${path}`, {
        method: 'PUT', dispatcher: agent, headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, body: JSON.stringify(body),
      });
      const text = await r.body.text();
      if (r.statusCode >= 300) throw new Error(`PUT ${path} answered ${r.statusCode}: ${text}`);
    };

    const written: number[] = [];
    const applied: number[] = [];
    for (let i = -WARMUP_WRITES; i < writes; i++) {
      const t0 = performance.now();
      await put(`/routes/cluster-${i < 0 ? `warm${-i}` : i % 20}`, { uri: `/cluster/${i}`, upstream_id: 'u' });
      const w = performance.now() - t0;
      await appliedElsewhere('a route write');
      if (i < 0) continue;
      written.push(w);
      applied.push(performance.now() - t0);
    }

    const publish = async (i: number): Promise<void> => {
      const r = await sendPublishForm(a.admin, KEY, 'PUT', '/custom_plugins/stamp',
        { stage: 'default', priority: '0', version: `1.0.${i}`, enabled: 'true' }, { bytes: await headerStampPlugin(String(i % 1000).padStart(3, '0')) });
      if (r.status >= 300) throw new Error(`publish answered ${r.status}: ${JSON.stringify(r.body)}`);
    };
    const patch = async (body: unknown): Promise<void> => {
      const r = await request(`${a.admin}/custom_plugins/stamp`, {
        method: 'PATCH', dispatcher: agent, headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, body: JSON.stringify(body),
      });
      await r.body.dump();
      if (r.statusCode >= 300) throw new Error(`PATCH answered ${r.statusCode}`);
    };
    await publish(0);
    await put('/routes/stamped', { uri: '/stamped', upstream_id: 'u', plugins: { stamp: {} } });
    await appliedElsewhere('the first publish');
    const serving: number[] = [];
    for (let i = 1; i <= publishes; i++) {
      // a published plugin is edited only while disabled
      await patch({ enabled: false });
      await appliedElsewhere('a disable');
      const t0 = performance.now();
      await publish(i);
      await appliedElsewhere('a publish');
      serving.push(performance.now() - t0);
    }

    written.sort((x, y) => x - y);
    applied.sort((x, y) => x - y);
    serving.sort((x, y) => x - y);
    return {
      nodes: 3, routes, writes, writeP50Ms: quantile(written, 0.5),
      appliedP50Ms: quantile(applied, 0.5), appliedP99Ms: quantile(applied, 0.99), appliedMaxMs: applied[applied.length - 1]!,
      publishes, publishServingP50Ms: quantile(serving, 0.5), publishServingP99Ms: quantile(serving, 0.99),
    };
  } finally {
    await agent.close();
    for (const gw of gateways) await gw.stop();
    await etcd.cleanup();
  }
}

export function formatClusterLatency(r: ClusterLatencyResult): string {
  return [
    `▸ Cluster write-to-applied — Admin API PUT on node A until nodes B and C serve it (${r.nodes} nodes on one etcd, ${r.routes.toLocaleString('en-US')} routes, ${r.writes} writes after ${WARMUP_WRITES} unmeasured)`,
    `  write (PUT answered)        p50 ${r.writeP50Ms.toFixed(1)} ms`,
    `  applied on B and C          p50 ${r.appliedP50Ms.toFixed(1)} ms   p99 ${r.appliedP99Ms.toFixed(1)} ms   max ${r.appliedMaxMs.toFixed(1)} ms`,
    `  goal: p99 < 500 ms  →  ${r.appliedP99Ms.toFixed(1)} ms  ${r.appliedP99Ms < 500 ? 'met' : 'MISSED'}`,
    `  plugin published on A, served by B and C (${r.publishes} publishes): p50 ${r.publishServingP50Ms.toFixed(1)} ms   p99 ${r.publishServingP99Ms.toFixed(1)} ms`,
    `  goal: under 1000 ms  →  ${r.publishServingP99Ms < 1000 ? 'met' : 'MISSED'}`,
  ].join('\n');
}
