import { constants, createWriteStream, fstat, lstatSync, mkdirSync, readlinkSync, realpathSync, stat, type WriteStream } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { pluginNodeLimits } from '../plugin-runtime/node-limits.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { logger } from '../core/logger.js';
import type { CompiledExpr } from '../core/expr/index.js';
import {
  LOGGER_COMMON_PROPERTIES, LOGGER_METADATA_SCHEMA, checkLoggerMetadata, logEntry, pickLogFormat, prepareLogCapture,
  responseBodyCaptureHandlers, compileCheckedExpr, type CompiledLogFormat, type LogCapture, type LoggerCommonConf,
} from './common/log-util.js';

// APISIX's file-logger: after the response, one JSON line per request appended to `path`.
// A route config must not be able to write anywhere the gateway's user can (its own
// config, a cron folder): every path is confined to the node's `log_dir` (default
// `<data_dir>/logs`, as APISIX's are relative to its `logs/` prefix). Relative paths
// resolve inside it; one resolving outside it (absolute, `..`, or through a symlink) is
// refused when the route is written, and checked again each time the file is opened;
// the file itself is opened without following a symlink. Each path is opened once per
// worker in append mode; workers share the file safely because every line is one
// O_APPEND write. A file moved or deleted away (log rotation) is noticed within a second
// and reopened. Writing never delays the response: lines queue on the stream, and past
// MAX_QUEUED_BYTES (a stuck disk) new lines are dropped and counted instead of piling up.
//
// `include_req_body` reads the request body in access (RequestBodyCapture in log-util):
// it streams to the upstream otherwise, unkept (APISIX has nginx's buffered copy).

export interface FileLoggerConf extends LoggerCommonConf {
  path: string;
  match?: unknown[];
}

export interface FileLoggerPrepared extends LogCapture {
  path: string;
  format: CompiledLogFormat | undefined;
  match: CompiledExpr | undefined;
}

const MAX_QUEUED_BYTES = 16 * 1024 * 1024;
const REOPEN_CHECK_MS = 1000;

function lstatOrUndefined(p: string): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

/** The real path of `p`, following symlinks (dangling ones too) in the part of it that exists. */
function realPathOf(p: string, depth = 0): string {
  let existing = p;
  const rest: string[] = [];
  while (lstatOrUndefined(existing) === undefined) {
    const parent = dirname(existing);
    if (parent === existing) break;
    rest.unshift(basename(existing));
    existing = parent;
  }
  let real = existing;
  try {
    real = realpathSync(existing);
  } catch {
    // a dangling symlink: where it points is where a write would go
    if (lstatOrUndefined(existing)?.isSymbolicLink() === true && depth < 8) {
      real = realPathOf(resolve(dirname(existing), readlinkSync(existing)), depth + 1);
    }
  }
  return rest.length === 0 ? real : join(real, ...rest);
}

function isInside(dir: string, p: string): boolean {
  const rel = relative(dir, p);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/**
 * The absolute file `path` names inside `logDir`; throws, naming the field, when it
 * resolves outside (lexically, or once symlinks in its existing part are followed).
 */
export function confinedLogPath(path: string, logDir = pluginNodeLimits().logDir): string {
  const full = resolve(logDir, path);
  if (!isInside(logDir, full) || !isInside(realPathOf(logDir), realPathOf(full))) {
    throw new Error(`plugins.file-logger.path: "${path}" resolves outside the log directory ${logDir} `
      + '(log_dir in the node config); use a path relative to it');
  }
  return full;
}

// append, create, and never through a symlink at the file itself
const OPEN_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;

/** One open file: appends lines, reopens it when the path no longer names the open file. */
export class FileSink {
  private stream: WriteStream | undefined;
  private ino: number | undefined;
  private lastCheck = 0;
  private checking = false;
  private failedAt = 0;
  dropped = 0;

  constructor(readonly path: string) {}

  write(line: string): void {
    const now = Date.now();
    if (this.stream === undefined) {
      // after a failure, try again at most once per check interval
      if (now - this.failedAt < REOPEN_CHECK_MS) {
        this.dropped++;
        return;
      }
      this.open();
      if (this.stream === undefined) return;
    } else if (now - this.lastCheck >= REOPEN_CHECK_MS) {
      this.lastCheck = now;
      this.checkRotated();
    }
    const s = this.stream!;
    if (s.writableLength > MAX_QUEUED_BYTES) {
      if (this.dropped++ === 0) logger().error({ plugin: 'file-logger', path: this.path }, 'log file is not keeping up; dropping lines');
      return;
    }
    if (this.dropped > 0) {
      logger().warn({ plugin: 'file-logger', path: this.path, dropped: this.dropped }, `dropped ${this.dropped} log lines`);
      this.dropped = 0;
    }
    s.write(line);
  }

  private open(): void {
    try {
      // a symlink placed since the route was written must not lead outside either
      confinedLogPath(this.path);
      mkdirSync(dirname(this.path), { recursive: true });
    } catch (err) {
      logger().error({ plugin: 'file-logger', path: this.path, err: (err as Error).message }, 'failed to open the log file');
      this.failedAt = Date.now();
      this.dropped++;
      return;
    }
    // numeric flags reach fs.open as they are; the typings only list the string forms
    const s = createWriteStream(this.path, { flags: OPEN_FLAGS as unknown as string });
    this.stream = s;
    this.ino = undefined;
    this.lastCheck = Date.now();
    s.on('open', (fd: number) => {
      fstat(fd, (err, st) => { if (!err && this.stream === s) this.ino = st.ino; });
    });
    s.on('error', (err) => {
      logger().error({ plugin: 'file-logger', path: this.path, err: err.message }, 'failed to write the log file');
      if (this.stream === s) {
        this.stream = undefined;
        this.failedAt = Date.now();
      }
      s.destroy();
    });
  }

  private checkRotated(): void {
    if (this.checking) return;
    this.checking = true;
    stat(this.path, (err, st) => {
      this.checking = false;
      const current = this.stream;
      if (current === undefined || this.ino === undefined) return;
      if (err !== null || st.ino !== this.ino) this.reopen();
    });
  }

  /** Closes the file (after queued lines) and opens the path again. */
  reopen(): void {
    const old = this.stream;
    this.stream = undefined;
    old?.end();
    this.open();
  }

  close(): Promise<void> {
    const s = this.stream;
    this.stream = undefined;
    if (s === undefined) return Promise.resolve();
    return new Promise((done) => s.end(() => done()));
  }
}

/** Open files of this worker by absolute path (per loaded copy of this module; a reload closes the old copy's). */
const sinks = new Map<string, FileSink>();

export function sinkFor(path: string): FileSink {
  let sink = sinks.get(path);
  if (sink === undefined) {
    sink = new FileSink(path);
    sinks.set(path, sink);
  }
  return sink;
}

export default definePlugin<FileLoggerConf, FileLoggerPrepared>({
  name: 'file-logger',
  description: 'Pushes request and response logs as JSON objects to a local file.',
  version: 0.1,
  stage: 'statistics',
  priority: 399,
  schema: {
    type: 'object',
    properties: {
      path: { type: 'string', minLength: 1 },
      ...LOGGER_COMMON_PROPERTIES,
      match: { type: 'array', maxItems: 20, items: { type: 'array' } },
    },
    required: ['path'],
    // an unknown field is refused by name, not ignored
    additionalProperties: false,
  },
  metadataSchema: LOGGER_METADATA_SCHEMA,
  checkMetadata: checkLoggerMetadata,

  prepare(conf, env) {
    const format = pickLogFormat(conf.log_format, env.metadata);
    return {
      path: confinedLogPath(conf.path),
      format,
      ...prepareLogCapture('file-logger', conf, format),
      match: compileCheckedExpr(conf.match, 'match'),
    };
  },

  ...responseBodyCaptureHandlers,

  access(p, ctx) {
    return p.reqCapture?.read(ctx);
  },

  log(p, ctx) {
    if (p.match !== undefined && !p.match((n) => ctx.var(n))) return;
    sinkFor(p.path).write(`${JSON.stringify(logEntry(p.format, ctx, p.capture, p.reqCapture))}\n`);
  },

  async destroy() {
    const all = [...sinks.values()];
    sinks.clear();
    await Promise.all(all.map((s) => s.close()));
  },
});
