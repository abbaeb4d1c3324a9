import type { PluginContext } from '../contracts/plugin.js';
import { checkVariables } from '../core/expr/index.js';
import type { LoggerCommonConf } from './common/log-util.js';
import type { BatchConf } from './common/batch-processor.js';
import {
  batchedLoggerSchema, defineBatchedLogger, defaultEntry, reportDropped, type BatchedLoggerPrepared, type LogRecord, type LogSink,
} from './common/batched-logger.js';
import { poolFor, type ServicePool } from './common/http-client.js';
import { EndpointRotation, checkHttpScheme, checkedHeaders, postLog } from './common/log-http.js';
import { HEADER_NAME_SCHEMA, HEADER_TEXT_SCHEMA } from './common/headers.js';
import { compileVarTemplate } from './common/var-template.js';

// APISIX's elasticsearch-logger: batches go to the `_bulk` API as NDJSON, an action line
// then the entry for each request, `Content-Type: application/x-ndjson`, with basic auth
// from `auth` and any `headers`. `field.index` may hold a date (`{%Y.%m.%d}`, strftime as
// Lua's os.date: local time, `!` first for UTC) and variables (`$host`), resolved per
// request. The server's major version is read once (GET on the endpoint, as APISIX does):
// for 5.x and 6.x the action carries `_type: "_doc"`.
//
// The action is `create`, not APISIX's `index`: with the ids Elasticsearch generates they
// do the same on an index, and only `create` may write to a data stream (ES 8 makes
// `logs-*-*` data streams by default). A 200 answer whose items were refused (a mapping
// conflict, a closed index) is not retried (the accepted ones would be written twice):
// the refused entries are counted (`rejected`) and warned about. `field.type` (removed in
// APISIX 3.13, when the version check came) is refused when written.

export interface ElasticsearchLoggerConf extends LoggerCommonConf, BatchConf {
  endpoint_addr?: string;
  endpoint_addrs?: string[];
  field: { index: string };
  auth?: { username: string; password: string };
  headers?: Record<string, string>;
  timeout: number;
  ssl_verify: boolean;
}

/** One request's document and the index it goes to. */
export interface EsEntry { index: string; doc: LogRecord }

export interface EsSink extends LogSink<EsEntry> {
  /** field.index, resolved for one request. */
  index(ctx: PluginContext, now?: Date): string;
  /** The server's major version once known. */
  readonly version: () => number | undefined;
}

export type ElasticsearchLoggerPrepared = BatchedLoggerPrepared<ElasticsearchLoggerConf, EsSink, EsEntry>;

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

type DateParts = { y: number; mo: number; d: number; h: number; mi: number; s: number; wd: number };

function partsOf(at: Date, utc: boolean): DateParts {
  return utc
    ? { y: at.getUTCFullYear(), mo: at.getUTCMonth(), d: at.getUTCDate(), h: at.getUTCHours(), mi: at.getUTCMinutes(), s: at.getUTCSeconds(), wd: at.getUTCDay() }
    : { y: at.getFullYear(), mo: at.getMonth(), d: at.getDate(), h: at.getHours(), mi: at.getMinutes(), s: at.getSeconds(), wd: at.getDay() };
}

function dayOfYear(p: DateParts): number {
  return Math.round((Date.UTC(p.y, p.mo, p.d) - Date.UTC(p.y, 0, 1)) / 86_400_000) + 1;
}

/** The strftime conversions supported in `field.index` (those a dated index name uses). */
const CONVERSIONS: Record<string, (p: DateParts) => string> = {
  Y: (p) => String(p.y), y: (p) => pad(p.y % 100), m: (p) => pad(p.mo + 1), d: (p) => pad(p.d),
  H: (p) => pad(p.h), M: (p) => pad(p.mi), S: (p) => pad(p.s), j: (p) => pad(dayOfYear(p), 3),
  a: (p) => DAYS[p.wd]!.slice(0, 3), A: (p) => DAYS[p.wd]!, b: (p) => MONTHS[p.mo]!.slice(0, 3), B: (p) => MONTHS[p.mo]!,
  '%': () => '%',
};

/** Compiles one `{…}` date part of field.index (Lua's os.date format); throws naming an unsupported conversion. */
export function compileDateFormat(format: string): (at: Date) => string {
  const utc = format.startsWith('!');
  const body = utc ? format.slice(1) : format;
  const parts: (string | ((p: DateParts) => string))[] = [];
  for (let i = 0; i < body.length; i++) {
    if (body[i] !== '%') {
      parts.push(body[i]!);
      continue;
    }
    const c = body[++i];
    const conv = c === undefined ? undefined : CONVERSIONS[c];
    if (conv === undefined) {
      throw new Error(`field.index: "{${format}}" uses %${c ?? ''}, which is not supported (%${Object.keys(CONVERSIONS).join(' %')})`);
    }
    parts.push(conv);
  }
  return (at) => {
    const p = partsOf(at, utc);
    return parts.map((x) => (typeof x === 'string' ? x : x(p))).join('');
  };
}

/** field.index → its value for a request: `{date}` parts (not after `$`) and `$variables`. */
export function compileIndex(template: string): (ctx: PluginContext, now?: Date) => string {
  const pieces: ((ctx: PluginContext, now: Date) => string)[] = [];
  let last = 0;
  const text = (s: string): void => {
    if (s === '') return;
    const t = compileVarTemplate(s);
    checkVariables(t.variables, 'field.index');
    pieces.push(t.isStatic ? () => s : (ctx) => t.render((n) => ctx.var(n)));
  };
  for (const m of template.matchAll(/(?<!\$)\{([^}]*)\}/g)) {
    text(template.slice(last, m.index));
    const date = compileDateFormat(m[1]!);
    pieces.push((_ctx, now) => date(now));
    last = m.index! + m[0].length;
  }
  text(template.slice(last));
  return (ctx, now = new Date()) => pieces.map((p) => p(ctx, now)).join('');
}

/** The bulk body: an action line and the document for each entry, each line ending in LF. */
export function bulkBody(entries: readonly EsEntry[], version: number | undefined): string {
  let out = '';
  for (const e of entries) {
    const action = version === 5 || version === 6 ? { _index: e.index, _type: '_doc' } : { _index: e.index };
    out += `${JSON.stringify({ create: action })}\n${JSON.stringify(e.doc)}\n`;
  }
  return out;
}

/** The documents a 200 bulk answer says were refused, and the first reason. */
export function refusedItems(reply: string | undefined): { refused: number; reason: string } {
  if (reply === undefined) return { refused: 0, reason: '' };
  let parsed: { errors?: boolean; items?: Record<string, { status?: number; error?: { type?: string; reason?: string } }>[] };
  try {
    parsed = JSON.parse(reply) as typeof parsed;
  } catch {
    return { refused: 0, reason: '' };
  }
  if (parsed.errors !== true || !Array.isArray(parsed.items)) return { refused: 0, reason: '' };
  let refused = 0;
  let reason = '';
  for (const item of parsed.items) {
    const result = Object.values(item)[0];
    if (result !== undefined && (result.status ?? 0) >= 300) {
      refused++;
      reason ||= `${result.status} ${result.error?.type ?? ''}: ${result.error?.reason ?? ''}`;
    }
  }
  return { refused, reason };
}

/** How long a failed version check is not tried again. */
const VERSION_RETRY_MS = 60_000;

class VersionProbe {
  major: number | undefined;
  private lastTry = -Infinity;
  /** The check in flight: every batch waits for it, or one sent meanwhile would go without `_type`. */
  private probing: Promise<void> | undefined;

  constructor(private readonly pool: ServicePool, private readonly headers: Record<string, string>, private readonly timeoutMs: number) {}

  /** Reads the major version from the endpoint's root (once; a failure is tried again a minute later). */
  check(endpoint: string): Promise<void> {
    if (this.major !== undefined) return Promise.resolve();
    if (this.probing === undefined && Date.now() - this.lastTry >= VERSION_RETRY_MS) {
      this.lastTry = Date.now();
      this.probing = this.read(endpoint).finally(() => { this.probing = undefined; });
    }
    return this.probing ?? Promise.resolve();
  }

  private async read(endpoint: string): Promise<void> {
    try {
      const reply = await postLog(this.pool, { url: endpoint, method: 'GET', headers: this.headers, timeoutMs: this.timeoutMs, server: 'elasticsearch', ok: (s) => s === 200 });
      const number = (JSON.parse(reply ?? '') as { version?: { number?: unknown } }).version?.number;
      const major = typeof number === 'string' ? /^(\d+)\./.exec(number)?.[1] : undefined;
      if (major !== undefined) this.major = Number(major);
    } catch {
      // unknown: documents go without _type, as APISIX sends them then
    }
  }
}

/** Headers a config's `headers` may not set: the body's type, and the credentials when `auth` is set. */
const BULK_HEADERS = new Map([['content-type', 'the NDJSON bulk body']]);
const BULK_HEADERS_WITH_AUTH = new Map([...BULK_HEADERS, ['authorization', 'auth']]);

function requestHeaders(conf: ElasticsearchLoggerConf): Record<string, string> {
  const headers = checkedHeaders(conf.headers, conf.auth !== undefined ? BULK_HEADERS_WITH_AUTH : BULK_HEADERS);
  if (conf.auth !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${conf.auth.username}:${conf.auth.password}`).toString('base64')}`;
  }
  return headers;
}

function endpointsOf(conf: ElasticsearchLoggerConf): string[] {
  if (conf.endpoint_addr !== undefined && conf.endpoint_addrs !== undefined) {
    throw new Error('endpoint_addr: deprecated, and endpoint_addrs is set too: keep endpoint_addrs alone');
  }
  const addrs = conf.endpoint_addrs ?? (conf.endpoint_addr !== undefined ? [conf.endpoint_addr] : undefined);
  if (addrs === undefined) throw new Error('endpoint_addrs: required (or the deprecated endpoint_addr)');
  addrs.forEach((a, i) => checkHttpScheme(a, conf.endpoint_addrs !== undefined ? `endpoint_addrs[${i}]` : 'endpoint_addr'));
  return addrs;
}

export default defineBatchedLogger<ElasticsearchLoggerConf, EsSink, EsEntry>({
  name: 'elasticsearch-logger',
  description: 'Pushes request and response logs to Elasticsearch through its bulk API, in batches.',
  version: 0.1,
  priority: 413,
  schema: batchedLoggerSchema({
    endpoint_addr: { type: 'string', pattern: '[^/]$' },
    endpoint_addrs: { type: 'array', minItems: 1, items: { type: 'string', pattern: '[^/]$' } },
    field: {
      type: 'object',
      properties: { index: { type: 'string', minLength: 1 } },
      required: ['index'],
      additionalProperties: false,
    },
    auth: {
      type: 'object',
      properties: { username: { type: 'string', minLength: 1 }, password: { type: 'string', minLength: 1, encrypted: true } },
      required: ['username', 'password'],
      additionalProperties: false,
    },
    // may carry credentials (an API key): masked for viewers, as APISIX's encrypt_fields
    headers: {
      type: 'object', minProperties: 1, propertyNames: HEADER_NAME_SCHEMA, additionalProperties: { ...HEADER_TEXT_SCHEMA, minLength: 1 }, encrypted: true,
    },
    timeout: { type: 'integer', minimum: 1, default: 10 },
    ssl_verify: { type: 'boolean', default: true },
  }, ['field']),
  processorName: 'elasticsearch-logger',

  sink(conf) {
    const endpoints = new EndpointRotation(endpointsOf(conf));
    const index = compileIndex(conf.field.index);
    const headers = requestHeaders(conf);
    const bulkHeaders = { ...headers, 'content-type': 'application/x-ndjson', accept: 'application/json' };
    const timeoutMs = conf.timeout * 1000;
    const pool = poolFor({ ssl_verify: conf.ssl_verify, keepalive: true, keepalive_timeout: 60_000, keepalive_pool: 5 });
    const probe = new VersionProbe(pool, { ...headers, accept: 'application/json' }, timeoutMs);
    return {
      index,
      version: () => probe.major,
      send: async (entries) => {
        const endpoint = endpoints.pick();
        await probe.check(endpoint);
        const reply = await postLog(pool, {
          url: `${endpoint}/_bulk`, headers: bulkHeaders, body: bulkBody(entries, probe.major), timeoutMs, server: 'elasticsearch', ok: (s) => s === 200,
        });
        const { refused, reason } = refusedItems(reply);
        reportDropped('elasticsearch-logger', refused, 'rejected', `Elasticsearch refused them (first: ${reason})`);
      },
    };
  },

  entry: (p, ctx) => ({ index: p.sink.index(ctx), doc: defaultEntry(p, ctx) }),
});
