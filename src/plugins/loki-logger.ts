import type { PluginContext } from '../contracts/plugin.js';
import { checkVariables } from '../core/expr/index.js';
import type { LoggerCommonConf } from './common/log-util.js';
import type { BatchConf } from './common/batch-processor.js';
import { batchedLoggerSchema, defineBatchedLogger, defaultEntry, type BatchedLoggerPrepared, type LogRecord, type LogSink } from './common/batched-logger.js';
import { KEEPALIVE_FIELDS, poolFor } from './common/http-client.js';
import { EndpointRotation, checkHttpScheme, checkedHeaders, postLog } from './common/log-http.js';
import { HEADER_NAME_SCHEMA, HEADER_TEXT_SCHEMA } from './common/headers.js';
import { compileVarTemplate, type VarTemplate } from './common/var-template.js';

// APISIX's loki-logger: batches go to Loki's push API (`endpoint_uri`, default
// /loki/api/v1/push) as JSON, `{"streams":[{"stream":{labels},"values":[[ns, line]]}]}`:
// each entry is one line (the entry as JSON) at the request's start time in nanoseconds
// (a string, as the API wants), in the stream of its own labels: `log_labels` values may
// name variables (`$remote_addr`), resolved per request, and entries with the same
// resolved labels share a stream. An entry without a route says `route_id: "no-matched"`,
// as APISIX's. `tenant_id` is sent as X-Scope-OrgID (`fake`, Loki's single-tenant name,
// by default). Endpoints are taken in turn (APISIX picks one at random), so a retried
// batch goes to the next one. `timeout` is in milliseconds; keepalive fields as forward-auth.

export interface LokiLoggerConf extends LoggerCommonConf, BatchConf {
  endpoint_addrs: string[];
  endpoint_uri: string;
  tenant_id: string;
  headers?: Record<string, string>;
  log_labels: Record<string, string>;
  ssl_verify: boolean;
  timeout: number;
  keepalive: boolean;
  keepalive_timeout: number;
  keepalive_pool: number;
}

/** One request's line and where it goes. */
export interface LokiEntry {
  entry: LogRecord;
  labels: Record<string, string>;
  /** Nanoseconds since the epoch, as a decimal string. */
  ts: string;
}

export interface LokiSink extends LogSink<LokiEntry> {
  readonly labels: readonly (readonly [string, VarTemplate])[];
  readonly endpoints: EndpointRotation;
}

export type LokiLoggerPrepared = BatchedLoggerPrepared<LokiLoggerConf, LokiSink, LokiEntry>;

/** Loki's label names (Prometheus's): a letter or underscore, then letters, digits, underscores. */
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Set from other fields; a `headers` entry for them would be overridden, so it is refused. */
const RESERVED_HEADERS = new Map([['x-scope-orgid', 'tenant_id'], ['content-type', 'the JSON body']]);

/** The push API's body: entries grouped into streams by their labels, in arrival order. */
export function pushBody(entries: readonly LokiEntry[]): string {
  const streams = new Map<string, { stream: Record<string, string>; values: [string, string][] }>();
  for (const e of entries) {
    // NUL cannot occur in a label, so the key cannot be shared by two label sets
    const key = Object.keys(e.labels).sort().map((k) => `${k}\u0000${e.labels[k]}`).join('\u0000');
    let s = streams.get(key);
    if (s === undefined) {
      s = { stream: e.labels, values: [] };
      streams.set(key, s);
    }
    s.values.push([e.ts, JSON.stringify(e.entry)]);
  }
  return JSON.stringify({ streams: [...streams.values()] });
}

/** A time in ms (with a fraction) as Loki's nanosecond string, to the microsecond. */
export function nanoseconds(ms: number): string {
  return `${Math.floor(ms * 1000)}000`;
}

function lokiEntry(p: LokiLoggerPrepared, ctx: PluginContext): LokiEntry {
  const entry = defaultEntry(p, ctx);
  if (entry.route_id === undefined || entry.route_id === '') entry.route_id = 'no-matched';
  const labels: Record<string, string> = {};
  for (const [name, t] of p.sink.labels) labels[name] = t.render((n) => ctx.var(n));
  return { entry, labels, ts: nanoseconds(performance.timeOrigin + ctx.startedAt) };
}

export default defineBatchedLogger<LokiLoggerConf, LokiSink, LokiEntry>({
  name: 'loki-logger',
  description: 'Pushes request and response logs to Grafana Loki, in batches, with labels from variables.',
  version: 0.1,
  priority: 414,
  schema: batchedLoggerSchema({
    endpoint_addrs: {
      type: 'array', minItems: 1,
      items: { type: 'string', pattern: '^[^\\/]+:\\/\\/([\\da-zA-Z.-]+|\\[[\\da-fA-F:]+\\])(:\\d+)?' },
    },
    endpoint_uri: { type: 'string', minLength: 1, default: '/loki/api/v1/push' },
    tenant_id: { ...HEADER_TEXT_SCHEMA, default: 'fake' },
    // may carry credentials: masked for viewers, as APISIX's encrypt_fields
    headers: { type: 'object', propertyNames: HEADER_NAME_SCHEMA, additionalProperties: { ...HEADER_TEXT_SCHEMA, minLength: 1 }, encrypted: true },
    log_labels: { type: 'object', additionalProperties: { type: 'string', minLength: 1 }, default: { job: 'apisix' } },
    ssl_verify: { type: 'boolean', default: false },
    timeout: { type: 'integer', minimum: 1, maximum: 60000, default: 3000 },
    ...KEEPALIVE_FIELDS,
  }, ['endpoint_addrs']),
  processorName: 'loki logger',

  sink(conf) {
    conf.endpoint_addrs.forEach((a, i) => checkHttpScheme(a, `endpoint_addrs[${i}]`));
    const labels = Object.entries(conf.log_labels).map(([name, value]) => {
      if (!LABEL_NAME.test(name)) throw new Error(`log_labels: "${name}" is not a Loki label name (letters, digits and _, not first a digit)`);
      const t = compileVarTemplate(value);
      checkVariables(t.variables, `log_labels.${name}`);
      return [name, t] as const;
    });
    const headers = checkedHeaders(conf.headers, RESERVED_HEADERS);
    headers['x-scope-orgid'] = conf.tenant_id;
    headers['content-type'] = 'application/json';
    const endpoints = new EndpointRotation(conf.endpoint_addrs.map((a) => a.replace(/\/+$/, '')));
    const path = conf.endpoint_uri.startsWith('/') ? conf.endpoint_uri : `/${conf.endpoint_uri}`;
    const pool = poolFor(conf);
    return {
      labels,
      endpoints,
      send: async (entries) => {
        await postLog(pool, {
          url: endpoints.pick() + path, headers, body: pushBody(entries), timeoutMs: conf.timeout, server: 'loki', ok: (s) => s < 300,
        });
      },
    };
  },

  entry: lokiEntry,
});
