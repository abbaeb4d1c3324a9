import { pino, type Logger } from 'pino';

export type { Logger };

let root: Logger = pino({
  level: process.env.GATEHOUSE_LOG_LEVEL ?? 'info',
  base: { pid: process.pid },
  timestamp: pino.stdTimeFunctions.isoTime,
});

/** The process-wide logger. Modules take a child: `logger().child({ module: 'router' })`. */
export function logger(): Logger {
  return root;
}

export function setLogLevel(level: string): void {
  root.level = level;
}

/** Tests replace the root logger to capture lines. */
export function setLogger(next: Logger): void {
  root = next;
}
