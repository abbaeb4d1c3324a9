import { pino, type Logger } from 'pino';
import { formatPretty, resolveLogFormat, type LogFormat, type LogFormatSetting } from './log-format.js';

export type { Logger };

// pino writes JSON lines into `sink`; what becomes of them (fd 1 as they are, or a
// readable line) can change after child loggers were made, when config.yaml is read.
const json = pino.destination({ dest: 1, sync: false });
const useColor = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
const toJson = (line: string): void => { json.write(line); };
const toPretty = (line: string): void => { process.stdout.write(formatPretty(line, useColor)); };
let write = resolveLogFormat('auto', process.stdout.isTTY === true) === 'pretty' ? toPretty : toJson;
const sink = { write: (line: string): void => { write(line); } };

let root: Logger = pino({
  level: process.env.GATEHOUSE_LOG_LEVEL ?? 'info',
  base: { pid: process.pid },
  timestamp: pino.stdTimeFunctions.isoTime,
}, sink);

/** The process-wide logger. Modules take a child: `logger().child({ module: 'router' })`. */
export function logger(): Logger {
  return root;
}

export function setLogLevel(level: string): void {
  root.level = level;
}

/** `log.format` of config.yaml; `auto` = pretty when stdout is a terminal. Returns the format in use. */
export function setLogFormat(setting: LogFormatSetting): LogFormat {
  const format = resolveLogFormat(setting, process.stdout.isTTY === true);
  write = format === 'pretty' ? toPretty : toJson;
  return format;
}

/** Tests replace the root logger to capture lines. */
export function setLogger(next: Logger): void {
  root = next;
}
