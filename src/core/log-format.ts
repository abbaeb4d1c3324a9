// How log lines look: JSON lines (pino's own output, for pipes, files and log shippers)
// or one readable line per entry for a person at a terminal. The readable form is made
// from the JSON line pino already wrote, so it only costs anything when chosen.

export type LogFormatSetting = 'auto' | 'json' | 'pretty';
export type LogFormat = 'json' | 'pretty';

/** `auto` means pretty for a terminal and JSON for everything else. */
export function resolveLogFormat(setting: LogFormatSetting, stdoutIsTTY: boolean): LogFormat {
  if (setting === 'auto') return stdoutIsTTY ? 'pretty' : 'json';
  return setting;
}

const LEVELS: Record<number, { name: string; color: string }> = {
  10: { name: 'TRACE', color: '\x1b[90m' },
  20: { name: 'DEBUG', color: '\x1b[36m' },
  30: { name: 'INFO', color: '\x1b[32m' },
  40: { name: 'WARN', color: '\x1b[33m' },
  50: { name: 'ERROR', color: '\x1b[31m' },
  60: { name: 'FATAL', color: '\x1b[41m\x1b[97m' },
};
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';
/** Fields the line's prefix already shows. */
const SHOWN = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'module']);

/** A listener address (`{host, port, tls}`) as `host:port`, `host:port(tls)` when TLS. */
function addressText(v: unknown): string | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const { host, port, tls, ...rest } = v as Record<string, unknown>;
  if (typeof host !== 'string' || typeof port !== 'number' || Object.keys(rest).length > 0) return undefined;
  return `${host.includes(':') ? `[${host}]` : host}:${port}${tls === true ? '(tls)' : ''}`;
}

function showValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  const address = addressText(v);
  if (address !== undefined) return address;
  if (Array.isArray(v) && v.length > 0) {
    const addresses = v.map(addressText);
    if (addresses.every((a) => a !== undefined)) return addresses.join(',');
  }
  return JSON.stringify(v) ?? String(v);
}

/**
 * One pino JSON line as `13:23:09.368 INFO  [1234] primary: message key=value ...`, an
 * error's stack on the lines after it. A line that is not a JSON object is passed through.
 */
export function formatPretty(line: string, color: boolean): string {
  let entry: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return line.endsWith('\n') ? line : `${line}\n`;
    entry = parsed as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const level = LEVELS[entry.level as number] ?? { name: String(entry.level), color: '' };
  const time = typeof entry.time === 'string' ? (/T(\d\d:\d\d:\d\d(?:\.\d+)?)/.exec(entry.time)?.[1] ?? entry.time) : String(entry.time ?? '');
  const paint = (code: string, s: string): string => (color && code !== '' ? `${code}${s}${RESET}` : s);
  let out = `${paint(DIM, time)} ${paint(level.color, level.name.padEnd(5))} ${paint(DIM, `[${String(entry.pid ?? '-')}]`)} `;
  if (typeof entry.module === 'string') out += `${entry.module}: `;
  out += typeof entry.msg === 'string' ? entry.msg : '';
  let stack = '';
  for (const [k, v] of Object.entries(entry)) {
    if (SHOWN.has(k) || v === undefined) continue;
    if (v !== null && typeof v === 'object' && typeof (v as { stack?: unknown }).stack === 'string') {
      const err = v as { message?: unknown; stack: string };
      out += ` ${paint(DIM, `${k}=`)}${showValue(err.message ?? '')}`;
      stack += `\n    ${err.stack.split('\n').join('\n    ')}`;
      continue;
    }
    out += ` ${paint(DIM, `${k}=`)}${showValue(v)}`;
  }
  return `${out}${stack}\n`;
}
