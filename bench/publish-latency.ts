// Publish-to-serving latency of the plugin marketplace: from the start of the multipart
// publish (`PUT /apisix/admin/custom_plugins/stamp`, a new version, enabled) until every
// worker serves it (/status/ready is 200 only once every worker applied the revision, and a
// worker applies it after compiling the new module). The seeds' console takes ~30 s; the
// issue's goal is 1 s. Two workers, the sqlite store, a route bound to the plugin.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Agent, request } from 'undici';
import { ManagedProcess } from './procs.js';
import { REPO_ROOT } from './targets.js';
import { waitForStart } from './apply-latency.js';

export interface PublishLatencyResult {
  samples: number;
  workers: number;
  /** Publish answered (the module checked and stored). */
  publishP50Ms: number;
  servingP50Ms: number;
  servingP99Ms: number;
  servingMaxMs: number;
}

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

export async function runPublishLatency(tmpDir: string, upstreamPort: number, samples = 50, workers = 2): Promise<PublishLatencyResult> {
  const { headerStampPlugin, sendPublishForm } = await import('../test/helpers/custom-plugins.js');
  const conf = join(tmpDir, 'publish-config.yaml');
  const key = 'bench-admin-key';
  writeFileSync(conf, stringify({
    node: { listen: [{ host: '127.0.0.1', port: 0 }], workers },
    admin: { listen: { host: '127.0.0.1', port: 0 }, keys: [{ name: 'bench', key, role: 'admin' }] },
    status: { listen: { host: '127.0.0.1', port: 0 } },
    store: { type: 'sqlite', sqlite: { path: join(tmpDir, 'publish.db') } },
    data_dir: join(tmpDir, 'publish-data'),
    log: { level: 'info' },
  }));
  const gw = new ManagedProcess('gateway-publish', process.execPath, [join(REPO_ROOT, 'bin', 'gatehouse.js'), 'start', '-c', conf], { cwd: REPO_ROOT });
  const agent = new Agent({ connections: 4 });
  try {
    const { admin, ready } = await waitForStart(gw);
    const isReady = async (): Promise<boolean> => {
      const r = await request(ready, { dispatcher: agent });
      await r.body.dump();
      return r.statusCode === 200;
    };
    const call = async (method: 'PUT' | 'PATCH', path: string, body: unknown): Promise<void> => {
      const r = await request(`${admin}${path}`, { method, dispatcher: agent, headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const text = await r.body.text();
      if (r.statusCode >= 300) throw new Error(`${method} ${path} answered ${r.statusCode}: ${text}`);
    };
    const publish = async (i: number): Promise<void> => {
      const r = await sendPublishForm(admin, key, 'PUT', '/custom_plugins/stamp',
        { stage: 'default', priority: '0', version: `1.0.${i}`, enabled: 'true' }, { bytes: await headerStampPlugin(String(i % 1000).padStart(3, '0')) });
      if (r.status >= 300) throw new Error(`publish answered ${r.status}: ${JSON.stringify(r.body)}`);
    };
    await publish(0);
    await call('PUT', '/routes/stamped', { uri: '/stamped', upstream: { nodes: { [`127.0.0.1:${upstreamPort}`]: 1 } }, plugins: { stamp: {} } });
    for (let i = 0; i < 400 && !(await isReady()); i++) await new Promise((r) => setTimeout(r, 50));

    const serving: number[] = [];
    const answered: number[] = [];
    for (let i = 1; i <= samples; i++) {
      // a published plugin is edited only while disabled: disable, then publish the next version enabled
      await call('PATCH', '/custom_plugins/stamp', { enabled: false });
      for (let polls = 0; !(await isReady()); polls++) if (polls > 20_000) throw new Error('workers never applied the disable');
      const t0 = performance.now();
      await publish(i);
      answered.push(performance.now() - t0);
      for (let polls = 0; !(await isReady()); polls++) if (polls > 20_000) throw new Error('workers never applied the publish');
      serving.push(performance.now() - t0);
    }
    serving.sort((a, b) => a - b);
    answered.sort((a, b) => a - b);
    return {
      samples, workers, publishP50Ms: quantile(answered, 0.5),
      servingP50Ms: quantile(serving, 0.5), servingP99Ms: quantile(serving, 0.99), servingMaxMs: serving[serving.length - 1]!,
    };
  } finally {
    await agent.close();
    await gw.stop();
  }
}

export function formatPublishLatency(r: PublishLatencyResult): string {
  return [
    `▸ Publish-to-serving latency — a new plugin version published (multipart PUT, module checked) until every worker serves it (${r.workers} workers, ${r.samples} publishes)`,
    `  publish answered       p50 ${r.publishP50Ms.toFixed(1)} ms`,
    `  served by every worker p50 ${r.servingP50Ms.toFixed(1)} ms   p99 ${r.servingP99Ms.toFixed(1)} ms   max ${r.servingMaxMs.toFixed(1)} ms`,
    `  goal: p99 < 1000 ms  →  ${r.servingP99Ms.toFixed(1)} ms  ${r.servingP99Ms < 1000 ? 'met' : 'MISSED'}`,
  ].join('\n');
}
