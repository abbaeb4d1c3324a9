// What every logger that ships entries somewhere in batches has in common (APISIX's
// batch-processor-manager plus log-util's phase handlers): the entry built in the log
// phase, a BatchProcessor made per prepared instance at its first entry, the drop counter,
// the request body read in access for `include_req_body`, the response body captured in
// body_filter for `include_resp_body`, and pending entries drained (for a bounded time)
// when the plugin's code is unloaded. A sink plugin declares its name, priority and schema,
// how it makes its sink from a config (checking the connection settings, opening nothing)
// and the sink's `send(entries)`; `defineBatchedLogger` makes the plugin:
//
//   export default defineBatchedLogger<MyConf, LogSink>({
//     name: 'my-logger', version: 0.1, priority: 403, processorName: 'my logger',
//     schema: batchedLoggerSchema({ brokers: {...} }, ['brokers']),
//     sink: (conf) => ({ send: (entries) => produce(conf, entries) }),  // no I/O before send
//     close: () => closeClients(),  // optional: after the bounded drain on unload
//   });
//
// `entry` replaces how one request's entry is built (typed E; default `defaultEntry`),
// `streamEntry` makes the plugin a stream plugin too. Failures are rejections of `send`;
// what a sink drops itself goes through `reportDropped` (counted, warned about sparingly).
import type { Plugin, PluginContext, PrepareEnv, StreamSession } from '../../contracts/plugin.js';
import { logger } from '../../core/logger.js';
import { counter } from '../../observability/metrics.js';
import { BATCH_PROCESSOR_PROPERTIES, BatchProcessor, batchOptionsOf, drainWithin, type BatchConf, type BatchProcessorLog, type DropReason } from './batch-processor.js';
import { WarnThrottle } from './warn-throttle.js';
import {
  LOGGER_COMMON_PROPERTIES, LOGGER_METADATA_SCHEMA, checkLoggerMetadata, logEntry, pickLogFormat, prepareLogCapture,
  responseBodyCaptureHandlers, type CompiledLogFormat, type LogCapture, type LoggerCommonConf,
} from './log-util.js';

/** One log entry as the default entry builder makes it (APISIX's shape or a `log_format`). */
export type LogRecord = Record<string, unknown>;

/**
 * Where a prepared instance's batches go. Made by the plugin's `sink` hook once per
 * prepared config (also when the Admin API only checks a config, so it must not open
 * anything until `send` runs).
 */
export interface LogSink<E = LogRecord> {
  /** Sends one batch; a rejection is a failed attempt (retried `max_retry_count` times with back-off). */
  send(entries: E[]): Promise<void>;
}

/** A prepared instance of a batched logger. */
export interface BatchedLoggerPrepared<C, K extends LogSink<E>, E = LogRecord> extends LogCapture {
  readonly conf: C;
  readonly sink: K;
  /** The instance's `log_format`, else the plugin metadata's, else none (APISIX's default entry). */
  readonly format: CompiledLogFormat | undefined;
  /** Made at the first entry: prepare also runs when the Admin API only checks a config. */
  processor: BatchProcessor<E> | undefined;
}

/** Per-plugin reason beyond the batch processor's own: a sink accepted a batch but refused some of its entries. */
export type LoggerDropReason = DropReason | 'rejected' | 'too_large';

export interface BatchedLoggerSpec<C extends LoggerCommonConf & BatchConf, K extends LogSink<E>, E = LogRecord>
  extends Pick<Plugin<C, BatchedLoggerPrepared<C, K, E>>, 'name' | 'description' | 'version' | 'priority' | 'schema'> {
  /** The stage; loggers run in `statistics`. */
  stage?: Plugin['stage'];
  /** APISIX's default name of the plugin's batch processor (`http logger`), shown in its warnings. */
  processorName: string;
  /** Checks the connection settings and makes the instance's sink; throwing refuses the config (name the field). */
  sink(conf: C, env: PrepareEnv): K;
  /**
   * The entry of one request, built only when it will be kept (not when the queue is full).
   * Default: `defaultEntry` (the `log_format` or APISIX's default shape).
   */
  entry?(p: BatchedLoggerPrepared<C, K, E>, ctx: PluginContext): E;
  /**
   * Stream routes (TCP/UDP): the entry of one finished session. Given, the plugin is also a
   * stream plugin whose `log` phase pushes it to the same kind of processor.
   */
  streamEntry?(p: BatchedLoggerPrepared<C, K, E>, session: StreamSession): E;
  /**
   * True when the instance's entries are the raw request (kafka-logger's `meta_format:
   * origin`): its body is read for `include_req_body` whatever the format, the response's never.
   */
  logsRawRequest?(conf: C): boolean;
  /** Runs when the plugin's code is unloaded, after pending entries were drained (or given up on): close pools, clients. */
  close?(): void | Promise<void>;
}

/**
 * A batched logger's schema: its own fields first, then the logger fields (log_format,
 * include_*_body…) and the batch processor's; an unknown field is refused by name.
 */
export function batchedLoggerSchema(properties: Record<string, unknown>, required: string[]): Record<string, unknown> {
  return {
    type: 'object',
    properties: { ...properties, ...LOGGER_COMMON_PROPERTIES, ...BATCH_PROCESSOR_PROPERTIES },
    required,
    additionalProperties: false,
  };
}

/** How long unloading the plugin waits for pending entries before leaving them. */
export const DESTROY_DRAIN_MS = 3000;

const dropped = counter('gatehouse_logger_dropped_total',
  'Log entries a logger gave up on: reason queue_full (too many pending), send_failed (out of retries), '
  + 'rejected (refused by the log server) or too_large (over the transport\'s size limit)', ['plugin', 'reason']);

/** Counts entries a logger gave up on in `gatehouse_logger_dropped_total{plugin,reason}`. */
export function countDropped(plugin: string, entries: number, reason: LoggerDropReason): void {
  if (entries > 0) dropped.inc({ plugin, reason }, entries);
}

const DROP_WARN_INTERVAL_MS = 10_000;

/** What a plugin dropped for one reason since its last warning about it. */
interface DropTally { entries: number; detail: string; readonly throttle: WarnThrottle }
const dropTallies = new Map<string, DropTally>();

/**
 * Entries a sink gave up on itself (the server refused them, or they exceed what the
 * transport can carry): counted, and warned about at most once per 10 s per plugin and
 * reason, the entries since the last warning summed (a flood of them must not become a
 * flood of log lines).
 */
export function reportDropped(plugin: string, entries: number, reason: 'rejected' | 'too_large', detail: string): void {
  if (entries <= 0) return;
  countDropped(plugin, entries, reason);
  const key = `${plugin}\0${reason}`;
  let tally = dropTallies.get(key);
  if (tally === undefined) {
    const t: DropTally = {
      entries: 0,
      detail: '',
      throttle: new WarnThrottle(DROP_WARN_INTERVAL_MS, () => {
        if (t.entries === 0) return false;
        logger().warn({ plugin, dropped: t.entries, reason }, `${t.entries} log entries dropped: ${t.detail}`);
        t.entries = 0;
        return true;
      }),
    };
    tally = t;
    dropTallies.set(key, t);
  }
  tally.entries += entries;
  tally.detail = detail;
  tally.throttle.due();
}

/** A batch as APISIX's loggers encode it: the one object when `batch_max_size` is 1, else a JSON array. */
export function jsonBatch(entries: readonly unknown[], batchMaxSize: number | undefined): string {
  return JSON.stringify((batchMaxSize ?? 1000) === 1 ? entries[0] : entries);
}

/** A batch processor's log lines, tagged with the plugin (resolved per line: the root logger may change). */
export function pluginLog(plugin: string): BatchProcessorLog {
  return {
    warn: (obj, msg) => logger().warn({ plugin, ...obj }, msg),
    error: (obj, msg) => logger().error({ plugin, ...obj }, msg),
  };
}

/** The entry an instance logs by default: its `log_format`, else APISIX's default shape with the captured bodies. */
export function defaultEntry(p: Pick<BatchedLoggerPrepared<unknown, LogSink<never>, never>, 'format' | 'capture' | 'reqCapture'>,
  ctx: PluginContext): LogRecord {
  return logEntry(p.format, ctx, p.capture, p.reqCapture);
}

/** Makes a batched logger plugin from its spec. */
export function defineBatchedLogger<C extends LoggerCommonConf & BatchConf, K extends LogSink<E>, E = LogRecord>(
  spec: BatchedLoggerSpec<C, K, E>,
): Plugin<C, BatchedLoggerPrepared<C, K, E>> {
  type Prepared = BatchedLoggerPrepared<C, K, E>;
  const log = pluginLog(spec.name);
  /** Processors holding entries, drained when this code is unloaded (a plugin reload). */
  const live = new Set<BatchProcessor<E>>();
  const buildEntry = spec.entry ?? ((p: Prepared, ctx: PluginContext) => defaultEntry(p, ctx) as E);

  function processorOf(p: Prepared): BatchProcessor<E> {
    if (p.processor === undefined) {
      const sink = p.sink;
      p.processor = new BatchProcessor<E>({
        ...batchOptionsOf(p.conf, spec.processorName),
        send: (entries) => sink.send(entries),
        log,
        onDrop: (n, reason) => countDropped(spec.name, n, reason),
        onIdle: (b) => live.delete(b),
      });
    }
    live.add(p.processor);
    return p.processor;
  }

  const plugin: Plugin<C, Prepared> = {
    name: spec.name,
    description: spec.description,
    version: spec.version,
    stage: spec.stage ?? 'statistics',
    priority: spec.priority,
    schema: spec.schema,
    metadataSchema: LOGGER_METADATA_SCHEMA,
    checkMetadata: checkLoggerMetadata,

    prepare(conf, env) {
      const sink = spec.sink(conf, env);
      if (env.subsystem === 'stream') {
        // a TCP/UDP session has no HTTP request or response body (APISIX's stream schemas lack these fields)
        for (const field of ['include_req_body', 'include_resp_body'] as const) {
          if (conf[field] === true) throw new Error(`${field}: a stream route has no HTTP body to log`);
        }
        return { conf, sink, format: pickLogFormat(conf.log_format, env.metadata, 'stream'), capture: undefined, reqCapture: undefined, processor: undefined };
      }
      const format = pickLogFormat(conf.log_format, env.metadata);
      return { conf, sink, format, ...prepareLogCapture(spec.name, conf, format, spec.logsRawRequest?.(conf)), processor: undefined };
    },

    ...responseBodyCaptureHandlers,

    access(p, ctx) {
      return p.reqCapture?.read(ctx);
    },

    log(p, ctx) {
      // a full queue drops the entry anyway: it is not built then
      processorOf(p).pushLazy(() => buildEntry(p, ctx));
    },

    async destroy() {
      const all = [...live];
      live.clear();
      await drainWithin(all, DESTROY_DRAIN_MS);
      await spec.close?.();
    },
  };
  const streamEntry = spec.streamEntry;
  if (streamEntry !== undefined) {
    plugin.stream = {
      log(p, session) {
        processorOf(p).pushLazy(() => streamEntry(p, session));
      },
    };
  }
  return plugin;
}
