import { LOGGER_COMMON_PROPERTIES, type LoggerCommonConf } from './common/log-util.js';
import { BATCH_PROCESSOR_PROPERTIES, type BatchConf } from './common/batch-processor.js';
import { defineBatchedLogger, jsonBatch, type BatchedLoggerPrepared, type LogRecord, type LogSink } from './common/batched-logger.js';
import { HEADER_TEXT_SCHEMA } from './common/headers.js';
import { checkHttpScheme, postLog } from './common/log-http.js';
import { poolFor, type ServicePool } from './common/http-client.js';

// APISIX's http-logger: after the response, the request's log entry goes into a batch
// processor that POSTs batches as JSON to `uri` (a JSON array; one object when
// batch_max_size is 1; `new_line`: one JSON document per line). The request never
// waits for it. A failing endpoint costs one attempt per backoff interval and one
// warning per interval; entries past the bound are dropped without being built, and
// counted in `gatehouse_logger_dropped_total{plugin,reason}` (common/batched-logger.ts).
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

export type HttpLoggerPrepared = BatchedLoggerPrepared<HttpLoggerConf, LogSink>;

/** Idle connections are kept 10 s, at most 16 per log server, in one pool per TLS policy for every instance of this worker. */
function poolOf(sslVerify: boolean): ServicePool {
  return poolFor({ ssl_verify: sslVerify, keepalive: true, keepalive_timeout: 10_000, keepalive_pool: 16 });
}

/** The request body of one batch, as APISIX builds it. */
export function encodeBatch(conf: Pick<HttpLoggerConf, 'concat_method' | 'batch_max_size'>, entries: unknown[]): { body: string; contentType: string } {
  const single = (conf.batch_max_size ?? 1000) === 1;
  if (conf.concat_method === 'new_line') {
    return { body: single ? JSON.stringify(entries[0]) : entries.map((e) => JSON.stringify(e)).join('\n'), contentType: 'text/plain' };
  }
  return { body: jsonBatch(entries, conf.batch_max_size), contentType: 'application/json' };
}

async function post(conf: HttpLoggerConf, entries: LogRecord[]): Promise<void> {
  const { body, contentType } = encodeBatch(conf, entries);
  const headers: Record<string, string> = { 'content-type': contentType };
  if (conf.auth_header !== undefined) headers.authorization = conf.auth_header;
  // any status under 400 counts as accepted (APISIX's http-logger), redirects included
  await postLog(poolOf(conf.ssl_verify), { url: conf.uri, headers, body, timeoutMs: conf.timeout * 1000, server: 'http', ok: (s) => s < 400 });
}

export default defineBatchedLogger<HttpLoggerConf, LogSink>({
  name: 'http-logger',
  description: 'Pushes request and response logs as JSON objects to an HTTP(S) server, in batches.',
  version: 0.1,
  stage: 'statistics',
  priority: 410,
  schema: {
    type: 'object',
    properties: {
      uri: { type: 'string', pattern: '^[^\\/]+:\\/\\/([\\da-zA-Z.-]+|\\[[\\da-fA-F:]+\\])(:\\d+)?' },
      // a credential (an Authorization value): masked for viewer keys, as the other sinks' passwords and headers
      auth_header: { ...HEADER_TEXT_SCHEMA, encrypted: true },
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
  processorName: 'http logger',

  sink(conf) {
    // the pattern admits any scheme, but only these can be POSTed to: refused now, not failing every batch later
    checkHttpScheme(conf.uri, 'uri');
    return { send: (entries) => post(conf, entries) };
  },
});
