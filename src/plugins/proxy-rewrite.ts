import { definePlugin } from '../plugin-runtime/define-plugin.js';
import type { PluginContext, PluginRequest } from '../contracts/plugin.js';
import { compileVarTemplate, type VarTemplate } from './common/var-template.js';
import { checkVariables } from '../core/expr/index.js';
import { compileNgxRegex, compileNgxTemplate, type NgxRegex, type NgxTemplate } from './common/ngx-regex.js';
import { escapeUriControlChars, uriSafeEncode } from './common/ngx-uri.js';
import {
  appendHeaderValue, HEADER_NAME_SCHEMA, HEADER_TEXT_SCHEMA, HEADER_VALUE_SCHEMA, headerMapSchema, headerValueText, isValidHeaderName,
  isValidHeaderValue,
} from './common/headers.js';

// Rewrites what is sent upstream: path (`uri` with $vars, or `regex_uri` pairs), method,
// Host, and request headers. APISIX semantics (apisix/plugins/proxy-rewrite.lua), run in
// rewrite. The client's query string is always carried over: appended with `?`, or with
// `&` when the new uri brings its own query.
//
// Gatehouse differences: a header added to one already present is joined with `, `
// (the plugin API holds one value per name); `method` sets the request view's
// `upstreamMethod` (the method the proxy sends), which the contract does not declare yet.

const METHODS = ['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'MKCOL', 'COPY', 'MOVE', 'PROPFIND',
  'LOCK', 'UNLOCK', 'PATCH', 'TRACE'];

const headerValues = {
  oneOf: [HEADER_VALUE_SCHEMA, { type: 'array', minItems: 1, items: HEADER_VALUE_SCHEMA }],
};

type HeaderValue = string | number | (string | number)[];

export interface ProxyRewriteConf {
  uri?: string;
  method?: string;
  regex_uri?: string[];
  host?: string;
  headers?: Record<string, unknown>;
  use_real_request_uri_unsafe: boolean;
}

interface HeaderOp {
  name: string;
  values: VarTemplate[];
  /** The value when every template is static (joined with `, ` as `set` sends it); undefined otherwise. */
  fixed: string | undefined;
}

export interface ProxyRewritePrepared {
  uri: VarTemplate | undefined;
  regexUri: { re: NgxRegex; template: NgxTemplate }[] | undefined;
  method: string | undefined;
  host: string | undefined;
  unsafe: boolean;
  add: HeaderOp[];
  set: HeaderOp[];
  remove: string[];
}

function isNewHeadersConf(h: Record<string, unknown>): boolean {
  const isObj = (v: unknown): boolean => typeof v === 'object' && v !== null;
  return isObj(h.add) || isObj(h.set) || isObj(h.remove);
}

function headerOps(map: Record<string, HeaderValue> | undefined, field: string): HeaderOp[] {
  if (map === undefined) return [];
  return Object.entries(map).map(([name, v]) => {
    const values = (Array.isArray(v) ? v : [v]).map((x) => compileVarTemplate(headerValueText(x), { captures: true }));
    for (const t of values) checkVariables(t.variables, `${field}.${name}`);
    return {
      name: name.toLowerCase(),
      values,
      fixed: values.every((t) => t.isStatic) ? values.map((t) => t.source).join(', ') : undefined,
    };
  });
}

/** `?` inside a variable's value must not start the query of the rewritten uri. */
const escapeSeparator = (v: string): string => (v.includes('?') ? v.replaceAll('?', '%3F') : v);

function prepare(conf: ProxyRewriteConf): ProxyRewritePrepared {
  let regexUri: ProxyRewritePrepared['regexUri'];
  if (conf.regex_uri !== undefined && conf.regex_uri.length > 0) {
    if (conf.regex_uri.length % 2 !== 0) throw new Error('The length of regex_uri should be an even number');
    regexUri = [];
    for (let i = 0; i < conf.regex_uri.length; i += 2) {
      const pattern = conf.regex_uri[i]!;
      const replacement = conf.regex_uri[i + 1]!;
      try {
        regexUri.push({ re: compileNgxRegex(pattern, 'jo'), template: compileNgxTemplate(replacement) });
      } catch (err) {
        throw new Error(`invalid regex_uri(${pattern}, ${replacement}): ${(err as Error).message}`);
      }
    }
  }

  let add: HeaderOp[] = [];
  let set: HeaderOp[] = [];
  let remove: string[] = [];
  const h = conf.headers;
  if (h !== undefined) {
    if (isNewHeadersConf(h)) {
      add = headerOps(h.add as Record<string, HeaderValue> | undefined, 'headers.add');
      set = headerOps(h.set as Record<string, HeaderValue> | undefined, 'headers.set');
      remove = ((h.remove as string[] | undefined) ?? []).map((n) => n.toLowerCase());
    } else {
      for (const [field, value] of Object.entries(h)) {
        if (typeof value !== 'string' && typeof value !== 'number') throw new Error('invalid type as header value');
        if (!isValidHeaderName(field)) throw new Error('invalid field character in header');
        if (typeof value === 'string' && !isValidHeaderValue(value)) throw new Error('invalid value character in header');
      }
      set = headerOps(h as Record<string, HeaderValue>, 'headers');
    }
    for (const op of [...add, ...set]) {
      if (!isValidHeaderName(op.name)) throw new Error(`invalid field character in header: ${op.name}`);
    }
  }

  const uri = conf.uri !== undefined ? compileVarTemplate(conf.uri) : undefined;
  if (uri !== undefined) checkVariables(uri.variables, 'uri');
  return {
    uri,
    regexUri,
    method: conf.method,
    host: conf.host,
    unsafe: conf.use_real_request_uri_unsafe === true,
    add,
    set,
    remove,
  };
}

type Lookup = (n: string) => unknown;

/** `ctx.var` as a standalone function, for templates (made only when one has variables). */
function lookupOf(ctx: PluginContext): Lookup {
  return (n) => ctx.var(n);
}

function rewriteUri(p: ProxyRewritePrepared, ctx: PluginContext):
  { uri: string; captures: (string | undefined)[] | undefined } {
  let upstreamUri = p.unsafe ? String(ctx.var('real_request_uri') ?? ctx.var('request_uri') ?? ctx.request.uri) : ctx.request.uri;
  let separatorEscaped = false;
  let captures: (string | undefined)[] | undefined;

  if (p.uri !== undefined) {
    separatorEscaped = true;
    let queryString = '';
    if (p.unsafe) {
      const q = upstreamUri.indexOf('?');
      queryString = q === -1 ? '' : upstreamUri.slice(q);
    }
    upstreamUri = p.uri.isStatic ? p.uri.source : p.uri.render(lookupOf(ctx), undefined, escapeSeparator);
    if (queryString !== '') {
      upstreamUri += upstreamUri.includes('?') ? '&' + queryString.slice(1) : queryString;
    }
  } else if (p.regexUri !== undefined) {
    if (!upstreamUri.includes('?')) separatorEscaped = true;
    for (const { re, template } of p.regexUri) {
      const m = re.match(upstreamUri);
      if (m === undefined) continue;
      captures = m;
      upstreamUri = re.replace(upstreamUri, template, false).result;
      break;
    }
  }

  if (p.unsafe) return { uri: upstreamUri, captures };

  const index = separatorEscaped ? upstreamUri.indexOf('?') : -1;
  if (index !== -1) {
    upstreamUri = uriSafeEncode(upstreamUri.slice(0, index)) + escapeUriControlChars(upstreamUri.slice(index));
  } else {
    upstreamUri = uriSafeEncode(upstreamUri);
  }
  if (ctx.var('is_args') === '?') {
    const args = String(ctx.var('args') ?? '');
    upstreamUri += (index !== -1 ? '&' : '?') + args;
  }
  return { uri: upstreamUri, captures };
}

function renderAll(values: readonly VarTemplate[], lookup: Lookup, captures: (string | undefined)[] | undefined): string {
  let out = '';
  for (let i = 0; i < values.length; i++) out += (i === 0 ? '' : ', ') + values[i]!.render(lookup, captures);
  return out;
}

export default definePlugin<ProxyRewriteConf, ProxyRewritePrepared>({
  name: 'proxy-rewrite',
  description: 'Rewrites the request forwarded to the upstream: scheme, URI, method, host and headers.',
  version: 0.1,
  stage: 'authorization',
  priority: 290,
  schema: {
    type: 'object',
    properties: {
      // APISIX's `^\/.*`, without control characters: the upstream request line could not carry them
      uri: { description: 'new uri for upstream', type: 'string', minLength: 1, maxLength: 4096, pattern: '^\\/[^\\u0000-\\u001f\\u007f]*$' },
      method: { description: 'proxy route method', type: 'string', enum: METHODS },
      regex_uri: {
        description: 'pairs of [regex, template]: the first regex matching the uri rewrites it; lower priority than uri',
        type: 'array',
        minItems: 2,
        items: { description: 'regex uri', ...HEADER_TEXT_SCHEMA },
      },
      host: { description: 'new host for upstream', type: 'string', pattern: '^[0-9a-zA-Z-.]+(:\\d{1,5})?$' },
      headers: {
        description: 'new headers for request',
        oneOf: [
          {
            type: 'object',
            minProperties: 1,
            additionalProperties: false,
            properties: {
              add: headerMapSchema(headerValues),
              set: headerMapSchema(headerValues),
              remove: { type: 'array', minItems: 1, items: HEADER_NAME_SCHEMA },
            },
          },
          headerMapSchema(HEADER_VALUE_SCHEMA),
        ],
      },
      use_real_request_uri_unsafe: {
        description: 'use real_request_uri instead, THIS IS VERY UNSAFE.',
        type: 'boolean',
        default: false,
      },
    },
    minProperties: 1,
    // an unknown field is refused by name, not ignored
    additionalProperties: false,
  },

  prepare,

  rewrite(p, ctx) {
    if (p.host !== undefined) ctx.request.upstreamHost = p.host;

    const { uri, captures } = rewriteUri(p, ctx);
    ctx.request.upstreamUri = uri;
    if (captures !== undefined) ctx.setVar('proxy_rewrite_regex_uri_captures', captures);

    let lookup: Lookup | undefined;
    for (const op of p.add) {
      let current = ctx.request.header(op.name);
      for (const t of op.values) current = appendHeaderValue(current, t.isStatic ? t.source : t.render(lookup ??= lookupOf(ctx), captures));
      ctx.request.setHeader(op.name, current);
    }
    for (const op of p.set) {
      ctx.request.setHeader(op.name, op.fixed ?? renderAll(op.values, lookup ??= lookupOf(ctx), captures));
    }
    for (const name of p.remove) ctx.request.setHeader(name, undefined);

    if (p.method !== undefined) ctx.request.upstreamMethod = p.method;
  },
});
