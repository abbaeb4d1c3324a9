import { brotliDecompressSync, gunzipSync, inflateSync, type ZlibOptions } from 'node:zlib';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import type { PluginContext } from '../contracts/plugin.js';
import { checkVariables, compileExpr, isKnownVariable, type CompiledExpr } from '../core/expr/index.js';
import { compileVarTemplate, type VarTemplate } from './common/var-template.js';
import { compileNgxRegex, compileNgxTemplate, type NgxRegex, type NgxTemplate } from './common/ngx-regex.js';
import {
  appendHeaderValue, HEADER_LINE_PATTERN, HEADER_NAME_SCHEMA, HEADER_VALUE_SCHEMA, headerMapSchema, headerValueText,
} from './common/headers.js';
import { pluginNodeLimits } from '../plugin-runtime/node-limits.js';
import { ResponseFailure } from '../plugin-runtime/response-failure.js';

// Rewrites the response (apisix/plugins/response-rewrite.lua): status, headers
// (add/set/remove or the legacy map, values with $vars), and the body — replaced
// (`body`, optionally base64) or edited by regex `filters`. `vars` (lua-resty-expr over
// response variables such as `status`) is evaluated in header_filter and decides for
// both phases. The body is buffered only for `filters`; `body` replaces the first chunk
// and drops the rest. A compressed upstream body (gzip, deflate, br) is decoded before
// the filters run and sent uncompressed.
//
// Memory: the buffered body and its decoded form are both bounded by the node's
// `node.max_buffered_body_size` (a 50 KB gzip body can inflate to gigabytes); past it
// the request fails with 502. `max_resp_body_size` (APISIX's, truncating) applies below it.
//
// Gatehouse difference: `headers.add` onto a header already present joins the values
// with `, ` (one value per name in the plugin API), which does not suit Set-Cookie.

const EMPTY = Buffer.alloc(0);

interface FilterConf { regex: string; scope: 'once' | 'global'; replace: string; options: string }

export interface ResponseRewriteConf {
  max_resp_body_size: number;
  headers?: Record<string, unknown>;
  body?: string;
  body_base64: boolean;
  status_code?: number;
  vars?: unknown[];
  filters?: FilterConf[];
}

interface Filter { re: NgxRegex; template: NgxTemplate; global: boolean; binary: boolean }

export interface ResponseRewritePrepared {
  /** Key of this instance's per-request state in `ctx.shared`. */
  stateKey: string;
  maxBody: number;
  vars: CompiledExpr | undefined;
  statusCode: number | undefined;
  body: Buffer | undefined;
  filters: Filter[] | undefined;
  add: [string, VarTemplate][];
  set: [string, VarTemplate][];
  remove: string[];
}

interface BodyState {
  /** `body`: whether the replacement has gone out. */
  sent: boolean;
  /** `filters`: buffered chunks, their size, and the content decoder. */
  chunks: Buffer[];
  size: number;
  decode: Decoder | undefined;
}

type Decoder = (b: Buffer, maxOutputLength: number) => Buffer;

const DECODERS: Record<string, Decoder> = {
  gzip: (b, max) => gunzipSync(b, zlibBound(max)),
  'x-gzip': (b, max) => gunzipSync(b, zlibBound(max)),
  deflate: (b, max) => inflateSync(b, zlibBound(max)),
  br: (b, max) => brotliDecompressSync(b, { maxOutputLength: max }),
};

function zlibBound(maxOutputLength: number): ZlibOptions {
  return { maxOutputLength };
}

/** zlib refuses to produce more than maxOutputLength with this error code. */
function isOutputLimit(err: unknown): boolean {
  return (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
}

function tooLarge(what: string, limit: number): ResponseFailure {
  return new ResponseFailure(`response-rewrite: the ${what} is larger than node.max_buffered_body_size `
    + `(${limit} bytes); failing the request with 502`);
}

let instances = 0;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const ADD_ENTRY = /^([^:\s]+)\s*:\s*([^:]+)$/;

function isNewHeadersConf(h: Record<string, unknown>): boolean {
  const isObj = (v: unknown): boolean => typeof v === 'object' && v !== null;
  return isObj(h.add) || isObj(h.set) || isObj(h.remove);
}

function checkedTemplate(source: string, field: string): VarTemplate {
  const t = compileVarTemplate(source);
  checkVariables(t.variables, field);
  return t;
}

function prepare(conf: ResponseRewriteConf): ResponseRewritePrepared {
  let vars: CompiledExpr | undefined;
  if (conf.vars !== undefined) {
    try {
      vars = compileExpr(conf.vars, { checkVariable: isKnownVariable });
    } catch (err) {
      throw new Error(`failed to validate the 'vars' expression: ${(err as Error).message}`);
    }
  }

  let body: Buffer | undefined;
  if (conf.body !== undefined) {
    if (conf.body_base64) {
      if (conf.body.length === 0 || !BASE64.test(conf.body)) throw new Error('invalid base64 content');
      body = Buffer.from(conf.body, 'base64');
    } else {
      body = Buffer.from(conf.body);
    }
  } else if (conf.body_base64) {
    throw new Error('invalid base64 content');
  }

  let filters: Filter[] | undefined;
  if (conf.filters !== undefined) {
    filters = conf.filters.map((f) => {
      const options = f.options ?? 'jo';
      // Without `u`, PCRE (and so ngx.re) matches bytes: the body is read as latin1.
      const binary = !options.includes('u');
      try {
        return {
          re: compileNgxRegex(f.regex, options, binary),
          template: compileNgxTemplate(f.replace, binary),
          global: f.scope === 'global',
          binary,
        };
      } catch (err) {
        throw new Error(`regex "${f.regex}" validation failed: ${(err as Error).message}`);
      }
    });
  }

  const add: [string, VarTemplate][] = [];
  const set: [string, VarTemplate][] = [];
  let remove: string[] = [];
  const h = conf.headers;
  if (h !== undefined) {
    if (isNewHeadersConf(h)) {
      for (const entry of (h.add as string[] | undefined) ?? []) {
        const m = ADD_ENTRY.exec(entry);
        if (m === null) throw new Error(`invalid header in headers.add: "${entry}" (expected "Name: value")`);
        add.push([m[1]!, checkedTemplate(m[2]!, `headers.add.${m[1]!}`)]);
      }
      for (const [name, v] of Object.entries((h.set as Record<string, unknown> | undefined) ?? {})) {
        set.push([name, checkedTemplate(headerValueText(v), `headers.set.${name}`)]);
      }
      remove = ((h.remove as string[] | undefined) ?? []).map((n) => n.toLowerCase());
    } else {
      for (const [name, v] of Object.entries(h)) {
        if (typeof v !== 'string' && typeof v !== 'number') throw new Error('invalid type as header value');
        if (name.length === 0) throw new Error('invalid field length in header');
        set.push([name, checkedTemplate(headerValueText(v), `headers.${name}`)]);
      }
    }
  }

  return {
    stateKey: `response-rewrite#${++instances}`,
    maxBody: conf.max_resp_body_size ?? 67108864,
    vars,
    statusCode: conf.status_code,
    body,
    filters,
    add,
    set,
    remove,
  };
}

function applyFilters(p: ResponseRewritePrepared, raw: Buffer): Buffer {
  let binaryText: string | undefined;
  let utf8Text: string | undefined;
  let current: 'binary' | 'utf8' = p.filters![0]!.binary ? 'binary' : 'utf8';
  if (current === 'binary') binaryText = raw.toString('latin1');
  else utf8Text = raw.toString('utf8');
  for (const f of p.filters!) {
    const want = f.binary ? 'binary' : 'utf8';
    if (want !== current) {
      // switch representation: through bytes
      const bytes = current === 'binary' ? Buffer.from(binaryText!, 'latin1') : Buffer.from(utf8Text!, 'utf8');
      if (want === 'binary') binaryText = bytes.toString('latin1');
      else utf8Text = bytes.toString('utf8');
      current = want;
    }
    if (current === 'binary') binaryText = f.re.replace(binaryText!, f.template, f.global).result;
    else utf8Text = f.re.replace(utf8Text!, f.template, f.global).result;
  }
  return current === 'binary' ? Buffer.from(binaryText!, 'latin1') : Buffer.from(utf8Text!, 'utf8');
}

export default definePlugin<ResponseRewriteConf, ResponseRewritePrepared>({
  name: 'response-rewrite',
  description: 'Rewrites the response returned to the client: status, headers and body.',
  version: 0.1,
  stage: 'authorization',
  priority: 189,
  schema: {
    type: 'object',
    properties: {
      max_resp_body_size: {
        type: 'integer',
        minimum: 1,
        default: 67108864,
        description: 'maximum response body size in bytes buffered into memory when filters are applied; '
          + 'larger responses are truncated',
      },
      headers: {
        description: 'new headers for response',
        anyOf: [
          headerMapSchema(HEADER_VALUE_SCHEMA),
          {
            properties: {
              add: {
                type: 'array',
                minItems: 1,
                // "Set-Cookie: <cookie-name>=<cookie-value>; Max-Age=<number>"
                items: { type: 'string', pattern: HEADER_LINE_PATTERN },
              },
              set: headerMapSchema(HEADER_VALUE_SCHEMA),
              remove: { type: 'array', minItems: 1, items: HEADER_NAME_SCHEMA },
            },
            // without this a legacy map would pass here unchecked (anyOf needs one branch)
            additionalProperties: false,
          },
        ],
      },
      body: { description: 'new body for response', type: 'string' },
      body_base64: {
        description: 'whether new body for response need base64 decode before return',
        type: 'boolean',
        default: false,
      },
      status_code: { description: 'new status code for response', type: 'integer', minimum: 200, maximum: 598 },
      vars: { type: 'array' },
      filters: {
        description: 'a group of filters that modify response body by replacing one specified string by another',
        type: 'array',
        minItems: 1,
        items: {
          description: 'filter that modifies response body',
          type: 'object',
          required: ['regex', 'replace'],
          properties: {
            regex: { description: 'match pattern on response body', type: 'string', minLength: 1 },
            scope: { description: 'regex substitution range', type: 'string', enum: ['once', 'global'], default: 'once' },
            replace: { description: 'regex substitution content', type: 'string' },
            options: { description: 'regex options', type: 'string', default: 'jo' },
          },
        },
      },
    },
    dependencies: {
      body: { not: { required: ['filters'] } },
      filters: { not: { required: ['body'] } },
    },
    // an unknown field is refused by name, not ignored
    additionalProperties: false,
  },

  prepare,

  header_filter(p, ctx) {
    if (p.vars !== undefined && !p.vars((n) => ctx.var(n))) return;
    if (p.statusCode !== undefined) ctx.response.status = p.statusCode;

    if (p.body !== undefined || p.filters !== undefined) {
      const state: BodyState = { sent: false, chunks: [], size: 0, decode: undefined };
      const encoding = ctx.response.header('content-encoding')?.trim().toLowerCase();
      if (p.filters !== undefined && encoding !== undefined && encoding !== '' && encoding !== 'identity') {
        state.decode = DECODERS[encoding];
        if (state.decode === undefined) {
          ctx.log.error({ plugin: 'response-rewrite', encoding },
            'filters not applied: unsupported content encoding of the upstream response');
          return applyHeaders(p, ctx);
        }
      }
      ctx.shared.set(p.stateKey, state);
      ctx.response.setHeader('content-length', undefined);
      ctx.response.setHeader('content-encoding', undefined);
      ctx.response.setHeader('last-modified', undefined);
      ctx.response.setHeader('etag', undefined);
    }
    applyHeaders(p, ctx);
  },

  filtersBody: (p) => p.body !== undefined || p.filters !== undefined,

  body_filter(p, ctx, chunk, eof) {
    const state = ctx.shared.get(p.stateKey) as BodyState | undefined;
    if (state === undefined) return undefined;
    if (p.body !== undefined) {
      if (state.sent) return EMPTY;
      state.sent = true;
      return p.body;
    }
    const nodeLimit = pluginNodeLimits().maxBufferedBodySize;
    if (state.size < p.maxBody && chunk.length > 0) {
      const room = p.maxBody - state.size;
      const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
      if (state.size + part.length > nodeLimit) throw tooLarge('upstream response body', nodeLimit);
      state.chunks.push(part);
      state.size += part.length;
    }
    if (!eof) return EMPTY;
    let raw = state.chunks.length === 1 ? state.chunks[0]! : Buffer.concat(state.chunks, state.size);
    state.chunks = [];
    if (state.decode !== undefined) {
      try {
        raw = state.decode(raw, nodeLimit);
      } catch (err) {
        if (isOutputLimit(err)) throw tooLarge('decoded upstream response body', nodeLimit);
        ctx.log.error({ plugin: 'response-rewrite', err: (err as Error).message },
          'filters may not work as expected: cannot decode the upstream body');
        return raw;
      }
    }
    return applyFilters(p, raw);
  },
});

function applyHeaders(p: ResponseRewritePrepared, ctx: PluginContext): void {
  if (p.add.length === 0 && p.set.length === 0 && p.remove.length === 0) return;
  const lookup = (n: string): unknown => ctx.var(n);
  for (const [name, t] of p.add) ctx.response.setHeader(name, appendHeaderValue(ctx.response.header(name), t.render(lookup)));
  for (const [name, t] of p.set) ctx.response.setHeader(name, t.render(lookup));
  for (const name of p.remove) ctx.response.setHeader(name, undefined);
}
