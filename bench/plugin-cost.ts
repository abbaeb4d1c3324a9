// Per-plugin cost for the report: after the plugins scenario, the 5-plugin gateway's own
// histogram gatehouse_plugin_phase_duration_seconds{plugin, phase} (scraped from its
// Prometheus export) divided by the requests its prometheus plugin counted. Both count
// every request the gateway served in the run (warm-up and preflight included), so the
// quotient is the plugin's handler time per request. The gateway times one request in
// `prometheus.plugin_cost_sample` (8 by default) and weights it, so these are estimates
// from a sample, like any sampling profiler's.
import { get } from 'node:http';

export interface PluginCostRow {
  plugin: string;
  /** phase → { calls, µs per call } */
  phases: Record<string, { calls: number; usPerCall: number }>;
  /** All phases' handler time, µs per request served. */
  usPerRequest: number;
}

export interface PluginCostReport {
  requests: number;
  rows: PluginCostRow[];
  totalUsPerRequest: number;
}

function fetchText(url: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url} answered ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

const SAMPLE = /^(gatehouse_plugin_phase_duration_seconds_(?:sum|count)|apisix_http_status)\{([^}]*)\} (\S+)$/;

function labelsOf(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/(\w+)="([^"]*)"/g)) out[m[1]!] = m[2]!;
  return out;
}

/** Reads the cost series and the request count out of a Prometheus text exposition. */
export function pluginCostFrom(exposition: string): PluginCostReport {
  let requests = 0;
  const sums = new Map<string, Map<string, number>>();
  const counts = new Map<string, Map<string, number>>();
  for (const line of exposition.split('\n')) {
    const m = SAMPLE.exec(line);
    if (m === null) continue;
    const value = Number(m[3]);
    const labels = labelsOf(m[2]!);
    if (m[1] === 'apisix_http_status') {
      requests += value;
      continue;
    }
    const into = m[1]!.endsWith('_sum') ? sums : counts;
    let byPhase = into.get(labels.plugin!);
    if (byPhase === undefined) into.set(labels.plugin!, (byPhase = new Map()));
    byPhase.set(labels.phase!, value);
  }
  const rows: PluginCostRow[] = [];
  for (const [plugin, byPhase] of sums) {
    const phases: PluginCostRow['phases'] = {};
    let seconds = 0;
    for (const [phase, sum] of byPhase) {
      const calls = counts.get(plugin)?.get(phase) ?? 0;
      seconds += sum;
      phases[phase] = { calls, usPerCall: calls > 0 ? (sum * 1e6) / calls : 0 };
    }
    rows.push({ plugin, phases, usPerRequest: requests > 0 ? (seconds * 1e6) / requests : 0 });
  }
  rows.sort((a, b) => b.usPerRequest - a.usPerRequest);
  return { requests, rows, totalUsPerRequest: rows.reduce((a, r) => a + r.usPerRequest, 0) };
}

export async function scrapePluginCost(metricsPort: number): Promise<PluginCostReport> {
  return pluginCostFrom(await fetchText(`http://127.0.0.1:${metricsPort}/metrics`));
}

export function formatPluginCost(r: PluginCostReport): string {
  const lines = [
    `▸ Per-plugin cost on the 5-plugin route — handler time from gatehouse_plugin_phase_duration_seconds,`,
    `  over the ${r.requests.toLocaleString('en-US')} requests the gateway served (timed on 1 request in 8, weighted)`,
    `  ${'plugin'.padEnd(16)}${'µs/request'.padStart(11)}   µs per call by phase`,
  ];
  for (const row of r.rows) {
    const phases = Object.entries(row.phases).map(([p, v]) => `${p} ${v.usPerCall.toFixed(2)}`).join(', ');
    lines.push(`  ${row.plugin.padEnd(16)}${row.usPerRequest.toFixed(2).padStart(11)}   ${phases}`);
  }
  lines.push(`  ${'all handlers'.padEnd(16)}${r.totalUsPerRequest.toFixed(2).padStart(11)}`);
  lines.push('  Handler times include the clock reads around them and any garbage collection a handler\'s allocation');
  lines.push('  triggers; the runtime between handlers and what the added headers cost to write are not in them.');
  return lines.join('\n');
}

/** One target's plugins, µs per call by phase (the wasm scenario: goal under 10 µs a call). */
export function formatCallCost(label: string, r: PluginCostReport): string {
  const lines = [`▸ ${label}: handler time per call (gatehouse_plugin_phase_duration_seconds, 1 request in 8 timed)`];
  for (const row of r.rows) {
    const phases = Object.entries(row.phases).filter(([, v]) => v.calls > 0).map(([p, v]) => `${p} ${v.usPerCall.toFixed(2)} µs`).join(', ');
    lines.push(`  ${row.plugin.padEnd(16)} ${phases}`);
  }
  return lines.join('\n');
}
