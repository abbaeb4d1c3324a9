import { Agent, request } from 'undici';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { logger } from '../core/logger.js';
import { counter } from '../observability/metrics.js';
import {
  LOGGER_COMMON_PROPERTIES, LOGGER_METADATA_SCHEMA, ResponseBodyCapture, checkLoggerMetadata, logEntry, pickLogFormat,
  responseBodyCaptureHandlers, RequestBodyCapture, type CompiledLogFormat, type LoggerCommonConf,
} from './common/log-util.js';
import { BATCH_PROCESSOR_PROPERTIES, BatchProcessor, batchOptionsOf, drainWithin, type BatchConf } from './common/batch-processor.js';
import { HEADER_TEXT_SCHEMA } from './common/headers.js';

// APISIX's http-logger: after the response, the request's log entry goes into a batch
// processor that POSTs batches as JSON to `uri` (a JSON array; one object when
// batch_max_size is 1; `new_line`: one JSON document per line). The request never
// waits for it. A failing endpoint costs one attempt per backoff interval and one
// warning per interval; entries past the bound are dropped without being built, and
// counted in `gatehouse_logger_dropped_total{plugin,reason}`.
//
// `include_req_body` reads the request body in access (RequestBodyCapture in log-util):
// it streams to the upstream otherwise, unkept (APISIX has nginx's buffered copy).

export interface HttpLoggerConf extends LoggerCommonConf, BatchConf {
  uri: string;
  auth_header?: string;
  timeout: number;
  concat_method: 'json' | 'new_line';
  ssl_verify: boolean;
}

export interface HttpLoggerPrepared {
  conf: HttpLoggerConf;
  format: CompiledLogFormat | undefined;
  capture: ResponseBodyCapture | undefined;
  /** `include_req_body`: reads the request body in access so the entry can carry it. */
  reqCapture: RequestBodyCapture | undefined;
  /** Made at the first entry: prepare also runs when the Admin API only checks a config. */
  processor: BatchProcessor<Record<string, unknown>> | undefined;
}

// Resolved per line: the root logger's level may change after this module loads.
const log = {
  warn: (obj: object, msg: string): void => logger().warn({ plugin: 'http-logger', ...obj }, msg),
  error: (obj: object, msg: string): void => logger().error({ plugin: 'http-logger', ...obj }, msg),
};

// One pool per TLS policy for every logger instance of this worker.
let verifying: Agent | undefined;
let trusting: Agent | undefined;
function agentFor(sslVerify: boolean): Agent {
  if (sslVerify) return verifying ??= new Agent({ keepAliveTimeout: 10_000, connections: 16 });
  return trusting ??= new Agent({ keepAliveTimeout: 10_000, connections: 16, connect: { rejectUnauthorized: false } });
}

const dropped = counter('gatehouse_logger_dropped_total',
  'Log entries a logger gave up on: reason queue_full (too many pending) or send_failed (out of retries)', ['plugin', 'reason']);

/** How long unloading the plugin waits for pending entries before leaving them. */
const DESTROY_DRAIN_MS = 3000;

/** Processors holding entries, flushed when this code is unloaded (a plugin reload). */
const live = new Set<BatchProcessor<Record<string, unknown>>>();

/** The request body of one batch, as APISIX builds it. */
export function encodeBatch(conf: Pick<HttpLoggerConf, 'concat_method' | 'batch_max_size'>, entries: unknown[]): { body: string; contentType: string } {
  const single = (conf.batch_max_size ?? 1000) === 1;
  if (conf.concat_method === 'new_line') {
    return { body: single ? JSON.stringify(entries[0]) : entries.map((e) => JSON.stringify(e)).join('\n'), contentType: 'text/plain' };
  }
  return { body: JSON.stringify(single ? entries[0] : entries), contentType: 'application/json' };
}

async function post(conf: HttpLoggerConf, entries: Record<string, unknown>[]): Promise<void> {
  const { body, contentType } = encodeBatch(conf, entries);
  const headers: Record<string, string> = { 'content-type': contentType };
  if (conf.auth_header !== undefined) headers.authorization = conf.auth_header;
  const ms = conf.timeout * 1000;
  const res = await request(conf.uri, {
    method: 'POST', headers, body, dispatcher: agentFor(conf.ssl_verify),
    headersTimeout: ms, bodyTimeout: ms, signal: AbortSignal.timeout(ms),
  });
  await res.body.dump();
  if (res.statusCode >= 400) throw new Error(`server returned status code[${res.statusCode}] host[${new URL(conf.uri).host}]`);
}

function processorOf(p: HttpLoggerPrepared): BatchProcessor<Record<string, unknown>> {
  if (p.processor === undefined) {
    p.processor = new BatchProcessor({
      ...batchOptionsOf(p.conf, 'http logger'),
      send: (entries) => post(p.conf, entries),
      log,
      onDrop: (n, reason) => dropped.inc({ plugin: 'http-logger', reason }, n),
      onIdle: (b) => live.delete(b),
    });
  }
  return p.processor;
}

export default definePlugin<HttpLoggerConf, HttpLoggerPrepared>({
  name: 'http-logger',
  description: 'Pushes request and response logs as JSON objects to an HTTP(S) server, in batches.',
  version: 0.1,
  stage: 'statistics',
  priority: 410,
  schema: {
    type: 'object',
    properties: {
      uri: { type: 'string', pattern: '^[^\\/]+:\\/\\/([\\da-zA-Z.-]+|\\[[\\da-fA-F:]+\\])(:\\d+)?' },
      auth_header: HEADER_TEXT_SCHEMA,
      timeout: { type: 'integer', minimum: 1, default: 3 },
      ...LOGGER_COMMON_PROPERTIES,
      concat_method: { type: 'string', enum: ['json', 'new_line'], default: 'json' },
      ssl_verify: { type: 'boolean', default: false },
      ...BATCH_PROCESSOR_PROPERTIES,
    },
    required: ['uri'],
    // an unknown field is refused by name, not ignored
    additionalProperties: false,
  },
  metadataSchema: LOGGER_METADATA_SCHEMA,
  checkMetadata: checkLoggerMetadata,

  prepare(conf, env) {
    // the pattern admits any scheme, but only these can be POSTed to: refused now, not failing every batch later
    const scheme = new URL(conf.uri).protocol;
    if (scheme !== 'http:' && scheme !== 'https:') throw new Error(`uri: scheme "${scheme.slice(0, -1)}" is not supported (http or https)`);
    return {
      conf,
      format: pickLogFormat(conf.log_format, env.metadata),
      capture: conf.include_resp_body === true ? new ResponseBodyCapture('http-logger', conf) : undefined,
      reqCapture: conf.include_req_body === true ? new RequestBodyCapture('http-logger', conf) : undefined,
      processor: undefined,
    };
  },

  ...responseBodyCaptureHandlers,

  access(p, ctx) {
    return p.reqCapture?.read(ctx);
  },

  log(p, ctx) {
    const processor = processorOf(p);
    live.add(processor);
    // a full queue drops the entry anyway: it is not built then
    processor.pushLazy(() => logEntry(p.format, ctx, p.capture, p.reqCapture));
  },

  async destroy() {
    const all = [...live];
    live.clear();
    await drainWithin(all, DESTROY_DRAIN_MS);
  },
});
