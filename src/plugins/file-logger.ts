import { createWriteStream, fstat, stat, type WriteStream } from 'node:fs';
import { resolve } from 'node:path';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { logger } from '../core/logger.js';
import type { CompiledExpr } from '../core/expr/index.js';
import {
  LOGGER_COMMON_PROPERTIES, LOGGER_METADATA_SCHEMA, ResponseBodyCapture, checkLoggerMetadata, logEntry, pickLogFormat,
  responseBodyCaptureHandlers, compileCheckedExpr, type CompiledLogFormat, type LoggerCommonConf,
} from './common/log-util.js';

// APISIX's file-logger: after the response, one JSON line per request appended to `path`
// (relative paths from the gateway's working directory). Each path is opened once per
// worker in append mode; workers share the file safely because every line is one
// O_APPEND write. A file moved or deleted away (log rotation) is noticed within a second
// and reopened. Writing never delays the response: lines queue on the stream, and past
// MAX_QUEUED_BYTES (a stuck disk) new lines are dropped and counted instead of piling up.
//
// `include_req_body` is accepted but no body is logged: the request body streams to the
// upstream and is not kept (APISIX has nginx's buffered copy).

export interface FileLoggerConf extends LoggerCommonConf {
  path: string;
  match?: unknown[];
}

export interface FileLoggerPrepared {
  path: string;
  format: CompiledLogFormat | undefined;
  capture: ResponseBodyCapture | undefined;
  match: CompiledExpr | undefined;
}

const MAX_QUEUED_BYTES = 16 * 1024 * 1024;
const REOPEN_CHECK_MS = 1000;

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
    const s = createWriteStream(this.path, { flags: 'a' });
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
  },
  metadataSchema: LOGGER_METADATA_SCHEMA,
  checkMetadata: checkLoggerMetadata,

  prepare(conf, env) {
    return {
      path: resolve(conf.path),
      format: pickLogFormat(conf.log_format, env.metadata),
      capture: conf.include_resp_body === true ? new ResponseBodyCapture('file-logger', conf) : undefined,
      match: compileCheckedExpr(conf.match, 'match'),
    };
  },

  ...responseBodyCaptureHandlers,

  log(p, ctx) {
    if (p.match !== undefined && !p.match((n) => ctx.var(n))) return;
    sinkFor(p.path).write(`${JSON.stringify(logEntry(p.format, ctx, p.capture))}\n`);
  },

  async destroy() {
    const all = [...sinks.values()];
    sinks.clear();
    await Promise.all(all.map((s) => s.close()));
  },
});
