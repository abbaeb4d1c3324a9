// Checks every batched logger's integration test makes against a real gateway.
import assert from 'node:assert/strict';
import { eventually, type Gateway } from './gateway.js';
import { get } from './http.js';

/** `gatehouse_logger_dropped_total{plugin,reason}` as the gateway exports it now (0 when absent). */
export async function droppedTotal(gw: Gateway, plugin: string, reason: string): Promise<number> {
  const text = (await get(gw.metricsUrl)).body;
  const m = new RegExp(`gatehouse_logger_dropped_total\\{plugin="${plugin}",reason="${reason}"\\} (\\d+)`).exec(text);
  return m === null ? 0 : Number(m[1]);
}

/**
 * A route (`path`) whose logger's server is dead: 200 requests all answer 200, the
 * batches fail (one warning line per 10 s interval at most: `Batch Processor[<processor>]`),
 * and the entries are dropped and counted, first out of retries, then (the endpoint
 * counting as down after a few backed-off attempts) past the bound without being built.
 */
export async function assertDeadSinkCostsNothing(gw: Gateway, path: string, plugin: string, processor: string): Promise<void> {
  const from = gw.output().length;
  const statuses = new Map<number, number>();
  for (let round = 0; round < 20; round++) {
    const batch = await Promise.all(Array.from({ length: 10 }, () => get(`${gw.url}${path}`)));
    for (const r of batch) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
  }
  assert.deepEqual([...statuses], [[200, 200]]);
  const warning = new RegExp(`Batch Processor\\[${processor}\\] \\d+ failed attempt`);
  await gw.waitForOutput(warning, from);
  for (const reason of ['send_failed', 'queue_full']) {
    await eventually(async () => {
      // requests keep coming, so entries meet the endpoint once it counts as down
      await Promise.all(Array.from({ length: 3 }, () => get(`${gw.url}${path}`)));
      return await droppedTotal(gw, plugin, reason) > 0;
    }, 200, 100);
  }
  const warnings = gw.output().slice(from).match(new RegExp(`Batch Processor\\[${processor}\\]`, 'g')) ?? [];
  // one line per 10 s interval: the first failure at once, the rest summed into the next line
  assert.ok(warnings.length <= 2, `${warnings.length} warnings for 200 requests`);
}
