import { readFile } from 'node:fs/promises';
import { eventually, type Gateway } from './gateway.js';
import { get } from './http.js';

// What a plugin test reads back of a request's observability: the JSON lines a
// file-logger wrote (its log_format fields) and the Prometheus export's samples.

export type LogEntry = Record<string, unknown>;

/** The entries of a file-logger file once `ready(entries)` holds (polled, bounded: ~5 s). */
export async function logEntries(path: string, ready: (entries: LogEntry[]) => boolean): Promise<LogEntry[]> {
  let entries: LogEntry[] = [];
  await eventually(async () => {
    const text = await readFile(path, 'utf8').catch(() => '');
    entries = text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as LogEntry);
    return ready(entries);
  });
  return entries;
}

/** The entry whose `field` equals `value`, once it was written. */
export async function logEntry(path: string, field: string, value: unknown): Promise<LogEntry> {
  const entries = await logEntries(path, (list) => list.some((e) => e[field] === value));
  return entries.find((e) => e[field] === value)!;
}

/** The value of the sample line starting with `series` (name and labels as exported), 0 when there is none. */
export async function metricValue(gw: Gateway, series: string): Promise<number> {
  const text = (await get(gw.metricsUrl)).body;
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}
