// transformer: Higress's request/response conversion. `reqRules` edit the request's
// headers, query arguments and JSON body before it goes upstream; `respRules` edit the
// response's headers and JSON body. As in Higress's code: the header items of every rule
// (in the order written), then the query items, then the body items.
//
// Bodies: only `application/json` ones are rewritten (re-encoded, so the length follows);
// any other body, one that does not parse, or one larger than node.max_buffered_body_size
// (or a request body of unknown length) goes through untouched and is counted. The
// request body is read only when some rule touches it.
import type { PluginContext, PluginRequest, PluginResponse } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { counter } from '../observability/metrics.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { pluginNodeLimits } from '../plugin-runtime/node-limits.js';
import { deletePath, getPath, setPath, type JsonPath } from './common/json-path.js';
import { QueryStore } from './common/query-store.js';
import {
  applyRules, compileRules, OPERATIONS, rulesTouch, STRATEGIES, TARGETS,
  type CompiledRule, type Key, type RequestFacts, type RuleConf, type Store, type Target,
} from './common/transform-rules.js';

export interface TransformerConf { reroute?: boolean; reqRules?: RuleConf[]; respRules?: RuleConf[] }

interface TransformerPrepared {
  req: CompiledRule[];
  resp: CompiledRule[];
  /** The request body is read: a rule writes it or maps from it. */
  reqBody: boolean;
  /** The request body is sent re-encoded: a rule writes it. */
  reqBodyWritten: boolean;
  respBody: boolean;
  stateKey: string;
}

type SkipReason = 'not_json' | 'too_large' | 'invalid_json' | 'no_length';

/** For access logs: what became of the request / response body, `rewritten` or why it was left alone. */
registerVariable('transformer_request_body');
registerVariable('transformer_response_body');

let skipped: ReturnType<typeof counter<'route' | 'side' | 'reason'>> | undefined;
function countSkipped(ctx: PluginContext, side: 'request' | 'response', reason: SkipReason): void {
  ctx.setVar(`transformer_${side}_body`, reason);
  skipped ??= counter('gatehouse_transformer_body_skipped_total',
    'Bodies the transformer plugin left untouched (not JSON, too large, invalid, unknown length)', ['route', 'side', 'reason']);
  skipped.inc({ route: ctx.routeId ?? '', side, reason });
}

const item = {
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries([
    ...['key', 'oldKey', 'newKey', 'newValue', 'value', 'appendValue', 'fromKey', 'toKey', 'host_pattern', 'path_pattern']
      .map((k) => [k, { type: 'string', maxLength: 4096 }]),
    ['strategy', { type: 'string', enum: STRATEGIES }],
    ['value_type', { type: 'string', enum: ['string', 'number', 'boolean', 'object'] }],
  ]),
};
const itemList = { type: 'array', minItems: 1, maxItems: 256, items: item };
const rules = {
  type: 'array',
  minItems: 1,
  maxItems: 64,
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['operate'],
    properties: { operate: { type: 'string', enum: OPERATIONS }, mapSource: { type: 'string', enum: TARGETS }, headers: itemList, querys: itemList, body: itemList },
  },
};

let instances = 0;

function isJson(type: string | undefined): boolean {
  return type !== undefined && type.toLowerCase().includes('application/json');
}

/** Characters a header value cannot carry (controls, beyond Latin-1): percent-encoded, as a value mapped from a body may hold them. */
const NOT_IN_HEADER = /[^\t\x20-\x7e\x80-\xff]/gu;

function headerText(v: unknown): string {
  if (Array.isArray(v)) return v.map(headerText).join(', ');
  const text = typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
  return text.replace(NOT_IN_HEADER, (c) => encodeURIComponent(c));
}

/** Request or response headers; a repeated header is one value joined with `, `. */
function headerStore(side: Pick<PluginRequest | PluginResponse, 'header' | 'setHeader'>): Store {
  const get = (k: Key): string | undefined => side.header(k as string);
  return {
    get,
    set: (k, v) => side.setHeader(k as string, headerText(v)),
    delete: (k) => side.setHeader(k as string, undefined),
    values: (k) => (get(k) ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0),
  };
}

function bodyStore(root: { doc: unknown }): Store {
  const get = (k: Key): unknown => getPath(root.doc, k as JsonPath);
  return {
    get,
    set: (k, v) => { setPath(root.doc, k as JsonPath, v); },
    delete: (k) => deletePath(root.doc, k as JsonPath),
    values: (k) => { const v = get(k); return v === undefined ? [] : Array.isArray(v) ? v : [v]; },
  };
}

function facts(ctx: PluginContext): RequestFacts {
  const uri = ctx.var('request_uri');
  return { host: ctx.request.header('host') ?? '', path: typeof uri === 'string' ? uri : ctx.request.uri };
}

/** The JSON document of a body, or why it is left alone. */
function parseBody(raw: Buffer): { doc: unknown } | 'invalid_json' {
  try {
    const doc = JSON.parse(raw.toString('utf8')) as unknown;
    return typeof doc === 'object' && doc !== null ? { doc } : 'invalid_json';
  } catch {
    return 'invalid_json';
  }
}

function transformRequest(p: TransformerPrepared, ctx: PluginContext, body: { doc: unknown } | undefined): void {
  const stores: Partial<Record<Target, Store>> = { headers: headerStore(ctx.request) };
  const query = new QueryStore(ctx.request.upstreamUri);
  stores.querys = query;
  if (body !== undefined) stores.body = bodyStore(body);
  applyRules(p.req, stores, facts(ctx));
  if (query.changed) ctx.request.upstreamUri = query.uri();
  if (body !== undefined && p.reqBodyWritten) {
    ctx.request.setBody(JSON.stringify(body.doc));
    ctx.setVar('transformer_request_body', 'rewritten');
  }
}

async function requestBody(p: TransformerPrepared, ctx: PluginContext): Promise<{ doc: unknown } | undefined> {
  if (!p.reqBody) return undefined;
  const length = ctx.request.header('content-length');
  const chunked = ctx.request.header('transfer-encoding') !== undefined;
  if ((length === undefined || length === '0') && !chunked) return undefined; // no body
  if (!isJson(ctx.request.header('content-type'))) {
    countSkipped(ctx, 'request', 'not_json');
    return undefined;
  }
  if (length === undefined) {
    countSkipped(ctx, 'request', 'no_length');
    return undefined;
  }
  if (Number(length) > pluginNodeLimits().maxBufferedBodySize) {
    countSkipped(ctx, 'request', 'too_large');
    return undefined;
  }
  const parsed = parseBody(await ctx.request.body());
  if (parsed === 'invalid_json') {
    countSkipped(ctx, 'request', parsed);
    return undefined;
  }
  return parsed;
}

function responseBodySkip(response: PluginResponse): SkipReason | undefined {
  if (!isJson(response.header('content-type'))) return 'not_json';
  const encoding = response.header('content-encoding');
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') return 'not_json';
  const length = response.header('content-length');
  return length !== undefined && Number(length) > pluginNodeLimits().maxBufferedBodySize ? 'too_large' : undefined;
}

interface ResponseBodyState { chunks: Buffer[]; size: number; passThrough: boolean }

export default definePlugin<TransformerConf, TransformerPrepared>({
  name: 'transformer',
  description: 'Rewrites request headers, query arguments and JSON bodies, and response headers and JSON bodies (Higress transformer).',
  version: '0.1',
  stage: 'authorization',
  priority: 410,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      reroute: { type: 'boolean' },
      reqRules: rules,
      respRules: rules,
    },
    anyOf: [{ required: ['reqRules'] }, { required: ['respRules'] }],
  },

  prepare(conf) {
    if (conf.reroute === true) throw new Error('reroute: re-picking the route after the rewrite is not implemented; set false or leave it out');
    const req = compileRules(conf.reqRules ?? [], 'reqRules', TARGETS);
    const resp = compileRules(conf.respRules ?? [], 'respRules', ['headers', 'body']);
    const late = (conf.respRules ?? []).findIndex((r) => r.operate === 'map' && r.mapSource === 'body' && r.headers !== undefined);
    if (late !== -1) throw new Error(`respRules[${late}].mapSource: response headers are sent before the body is read; map body into headers only in reqRules`);
    const reqBodyWritten = req.some((r) => r.items.some((i) => i.target === 'body'));
    return { req, resp, reqBody: rulesTouch(req, 'body'), reqBodyWritten, respBody: rulesTouch(resp, 'body'), stateKey: `transformer#${++instances}` };
  },

  rewrite(p, ctx) {
    if (p.req.length === 0) return undefined;
    // synchronous unless the body is needed: a promise costs the runner a settle per request
    if (!p.reqBody) return transformRequest(p, ctx, undefined);
    return requestBody(p, ctx).then((body) => transformRequest(p, ctx, body));
  },

  header_filter(p, ctx) {
    if (p.resp.length === 0) return;
    // the body is judged by the upstream's headers, before the rules change them
    const skip = p.respBody ? responseBodySkip(ctx.response) : undefined;
    applyRules(p.resp, { headers: headerStore(ctx.response) }, facts(ctx), 'headers');
    if (!p.respBody) return;
    if (skip !== undefined) return countSkipped(ctx, 'response', skip);
    ctx.shared.set(p.stateKey, { chunks: [], size: 0, passThrough: false } satisfies ResponseBodyState);
    ctx.response.setHeader('content-length', undefined);
    ctx.response.setHeader('etag', undefined);
  },

  filtersBody: (p) => p.respBody,

  body_filter(p, ctx, chunk, eof) {
    const state = ctx.shared.get(p.stateKey) as ResponseBodyState | undefined;
    if (state === undefined || state.passThrough) return undefined;
    state.chunks.push(chunk);
    state.size += chunk.length;
    if (state.size > pluginNodeLimits().maxBufferedBodySize) {
      // what was held back goes out as it came, the rest streams
      state.passThrough = true;
      countSkipped(ctx, 'response', 'too_large');
      return Buffer.concat(state.chunks, state.size);
    }
    if (!eof) return Buffer.alloc(0);
    const raw = Buffer.concat(state.chunks, state.size);
    state.chunks = [];
    if (raw.length === 0) return raw; // HEAD, 204, 304: nothing to rewrite
    const parsed = parseBody(raw);
    if (parsed === 'invalid_json') {
      countSkipped(ctx, 'response', parsed);
      return raw;
    }
    applyRules(p.resp, { headers: headerStore(ctx.response), body: bodyStore(parsed) }, facts(ctx), 'body');
    ctx.setVar('transformer_response_body', 'rewritten');
    return JSON.stringify(parsed.doc);
  },
});
