// cors: Cross-Origin Resource Sharing headers (APISIX cors 3.x schema and matching
// rules). Preflights (any OPTIONS request, as in APISIX) are answered with 200 and an
// empty body in the `preflight` hook, which the runner calls before every stage, so a
// route that also carries key-auth or jwt-auth still answers them (DESIGN.md §4). For
// other requests the headers are added in header_filter, also to responses another
// plugin produced (e.g. key-auth's 401).
import type { PluginContext } from '../contracts/plugin.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { HEADER_TEXT_SCHEMA } from './common/headers.js';
import { compilePcre } from '../core/expr/pcre.js';

export interface CorsConf {
  allow_origins: string;
  allow_methods: string;
  allow_headers: string;
  expose_headers?: string;
  max_age: number;
  allow_credential: boolean;
  allow_origins_by_regex?: string[];
  allow_origins_by_metadata?: string[];
  timing_allow_origins?: string;
  timing_allow_origins_by_regex?: string[];
}

/** An origin pattern, matched as APISIX's ngx.re.find does, on RE2 (linear time: origins are client input). */
type OriginRegex = { test(origin: string): boolean };

/** A compiled origins string: `*`, `**` (reflect the request's), a comma list, or one origin. */
type OriginRule =
  | { kind: 'any' }
  | { kind: 'reflect' }
  | { kind: 'list'; origins: ReadonlySet<string> }
  | { kind: 'single'; origin: string };

interface CorsPrepared {
  origins: OriginRule;
  /** `allow_origins` is exactly `*`: no `Vary: Origin`, and metadata misses do not fall back to it. */
  originsIsStar: boolean;
  regexes: readonly OriginRegex[] | undefined;
  /** `allow_origins_by_metadata` keys with their compiled metadata entries (absent keys left out). */
  metadata: readonly OriginRule[] | undefined;
  methods: string;
  /** undefined: echo `Access-Control-Request-Headers` (`**`). */
  headers: string | undefined;
  maxAge: string;
  expose: string | undefined;
  credential: boolean;
  timing: OriginRule | undefined;
  timingRegexes: readonly OriginRegex[] | undefined;
  /**
   * The headers as flat `[name, value, …]` when they do not depend on the request (any
   * origin, fixed allowed headers, no timing rule): built once, not per response.
   */
  fixed: readonly string[] | undefined;
}

const ORIGINS_PATTERN = '^(\\*|\\*\\*|null|\\w+://[^,\\u0000-\\u001f\\u007f]+(,\\w+://[^,\\u0000-\\u001f\\u007f]+)*)$';
const ALL_METHODS = 'GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS,CONNECT,TRACE';
/** Where the preflight hook keeps the request's Origin, before any plugin can rewrite it. */
const ORIGIN_KEY = 'cors.original_request_origin';

const regexList = {
  type: 'array',
  items: { type: 'string', minLength: 1, maxLength: 4096 },
  minItems: 1,
  uniqueItems: true,
} as const;

export function compileOrigins(value: string): OriginRule {
  if (value === '*') return { kind: 'any' };
  if (value === '**') return { kind: 'reflect' };
  if (value.includes(',')) return { kind: 'list', origins: new Set(value.split(',').filter((o) => o !== '')) };
  return { kind: 'single', origin: value };
}

function resolve(rule: OriginRule, origin: string | undefined): string | undefined {
  switch (rule.kind) {
    case 'any': return '*';
    case 'reflect': return origin ?? '*';
    case 'list': return origin !== undefined && rule.origins.has(origin) ? origin : undefined;
    case 'single': return rule.origin;
  }
}

function matches(origin: string | undefined, allowed: string | undefined): boolean {
  return allowed !== undefined && (allowed === '*' || allowed === origin);
}

function byRegex(regexes: readonly OriginRegex[], origin: string | undefined): string | undefined {
  if (origin === undefined) return undefined;
  for (const re of regexes) if (re.test(origin)) return origin;
  return undefined;
}

function byMetadata(p: CorsPrepared, origin: string | undefined): string | undefined {
  if (p.metadata === undefined) return undefined;
  for (const rule of p.metadata) if (matches(origin, resolve(rule, origin))) return origin;
  return undefined;
}

/** The Access-Control-Allow-Origin value for this request, or undefined when the origin is not allowed. */
function allowedOrigin(p: CorsPrepared, origin: string | undefined): string | undefined {
  let allowed: string | undefined;
  // With metadata configured, the route's own list is consulted only when it was set
  // to something other than the default `*`.
  let local = true;
  if (p.metadata !== undefined) {
    allowed = byMetadata(p, origin);
    local = !matches(origin, allowed) && !p.originsIsStar;
  }
  if (local) allowed = p.regexes === undefined ? resolve(p.origins, origin) : byRegex(p.regexes, origin);
  if (!matches(origin, allowed)) allowed = byMetadata(p, origin);
  return allowed;
}

/** The CORS response headers for a request with `origin` (lower-case names). */
function corsHeaders(p: CorsPrepared, ctx: PluginContext | undefined, origin: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const allowed = allowedOrigin(p, origin);
  if (allowed !== undefined) {
    out['access-control-allow-origin'] = allowed;
    out['access-control-allow-methods'] = p.methods;
    out['access-control-max-age'] = p.maxAge;
    if (p.expose !== undefined) out['access-control-expose-headers'] = p.expose;
    const headers = p.headers ?? ctx?.request.header('access-control-request-headers');
    if (headers !== undefined) out['access-control-allow-headers'] = headers;
    if (p.credential) out['access-control-allow-credentials'] = 'true';
  }
  if (p.timing !== undefined || p.timingRegexes !== undefined) {
    const t = p.timingRegexes !== undefined ? byRegex(p.timingRegexes, origin) : resolve(p.timing!, origin);
    if (matches(origin, t)) out['timing-allow-origin'] = t!;
  }
  return out;
}

/** `Vary` with `Origin` added once. */
function withVaryOrigin(current: string | undefined): string {
  if (current === undefined || current.trim() === '') return 'Origin';
  if (current.split(',').some((v) => { const t = v.trim().toLowerCase(); return t === 'origin' || t === '*'; })) return current;
  return `${current}, Origin`;
}

function compileRegexes(field: string, list: readonly string[] | undefined): OriginRegex[] | undefined {
  if (list === undefined) return undefined;
  return list.map((source, i) => {
    try {
      return compilePcre(source, false);
    } catch (err) {
      throw new Error(`invalid regex in ${field}[${i + 1}] "${source}": ${(err as Error).message.replace(/^invalid regex '.*?': /s, '')}`);
    }
  });
}

function requestOrigin(ctx: PluginContext): string | undefined {
  const saved = ctx.shared.get(ORIGIN_KEY);
  return typeof saved === 'string' ? saved : ctx.request.header('origin');
}

export default definePlugin<CorsConf, CorsPrepared>({
  name: 'cors',
  description: 'Enables Cross-Origin Resource Sharing (CORS): answers preflights and adds the CORS response headers.',
  version: '0.1',
  stage: 'authentication',
  priority: 340,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      allow_origins: {
        description: "'*' allows every origin (without credentials), '**' reflects the request's origin, several origins are separated by ','",
        type: 'string',
        pattern: ORIGINS_PATTERN,
        default: '*',
      },
      allow_methods: {
        description: "'*' (without credentials), '**' for every method, or a ',' separated list",
        ...HEADER_TEXT_SCHEMA,
        default: '*',
      },
      allow_headers: {
        description: "'*' (without credentials), '**' to echo Access-Control-Request-Headers, or a ',' separated list",
        ...HEADER_TEXT_SCHEMA,
        default: '*',
      },
      expose_headers: { description: "a ',' separated list", ...HEADER_TEXT_SCHEMA },
      max_age: { description: 'seconds a preflight result may be cached; -1 disables caching', type: 'integer', default: 5 },
      allow_credential: { type: 'boolean', default: false },
      allow_origins_by_regex: { ...regexList, description: 'regular expressions an allowed origin matches' },
      allow_origins_by_metadata: { ...regexList, description: 'keys of allow_origins in the plugin metadata' },
      timing_allow_origins: { type: 'string', pattern: ORIGINS_PATTERN },
      timing_allow_origins_by_regex: { ...regexList },
    },
  },
  metadataSchema: {
    type: 'object',
    properties: {
      allow_origins: {
        type: 'object',
        additionalProperties: { type: 'string', pattern: ORIGINS_PATTERN },
      },
    },
  },

  prepare(conf, env) {
    const allowOrigins = conf.allow_origins ?? '*';
    const allowMethods = conf.allow_methods ?? '*';
    const allowHeaders = conf.allow_headers ?? '*';
    if (conf.allow_credential === true && (allowOrigins === '*' || allowMethods === '*' || allowHeaders === '*'
      || conf.expose_headers === '*' || conf.timing_allow_origins === '*')) {
      throw new Error("you can not set '*' for other option when 'allow_credential' is true");
    }
    // APISIX accepts both and ignores the string form; a setting without effect is refused.
    if (conf.timing_allow_origins !== undefined && conf.timing_allow_origins_by_regex !== undefined) {
      throw new Error('timing_allow_origins has no effect with timing_allow_origins_by_regex: set only one');
    }
    let metadata: OriginRule[] | undefined;
    if (conf.allow_origins_by_metadata !== undefined) {
      metadata = [];
      const map = (env.metadata?.allow_origins ?? {}) as Record<string, unknown>;
      for (const key of conf.allow_origins_by_metadata) {
        const value = map[key];
        if (typeof value === 'string') metadata.push(compileOrigins(value));
      }
    }
    const prepared: CorsPrepared = {
      origins: compileOrigins(allowOrigins),
      originsIsStar: allowOrigins === '*',
      regexes: compileRegexes('allow_origins_by_regex', conf.allow_origins_by_regex),
      metadata,
      methods: allowMethods === '**' ? ALL_METHODS : allowMethods,
      headers: allowHeaders === '**' ? undefined : allowHeaders,
      maxAge: String(conf.max_age ?? 5),
      expose: conf.expose_headers !== undefined && conf.expose_headers !== '' ? conf.expose_headers : undefined,
      credential: conf.allow_credential === true,
      timing: conf.timing_allow_origins !== undefined ? compileOrigins(conf.timing_allow_origins) : undefined,
      timingRegexes: compileRegexes('timing_allow_origins_by_regex', conf.timing_allow_origins_by_regex),
      fixed: undefined,
    };
    if (prepared.origins.kind === 'any' && prepared.regexes === undefined && prepared.metadata === undefined
      && prepared.headers !== undefined && prepared.timing === undefined && prepared.timingRegexes === undefined) {
      // what corsHeaders answers for any request then
      const headers = corsHeaders(prepared, undefined, undefined);
      prepared.fixed = Object.freeze(Object.entries(headers).flat());
    }
    return prepared;
  },

  preflight(p, ctx) {
    const origin = ctx.request.header('origin');
    if (origin !== undefined) ctx.shared.set(ORIGIN_KEY, origin);
    if (ctx.request.method !== 'OPTIONS') return undefined;
    const headers = corsHeaders(p, ctx, origin);
    if (!p.originsIsStar) headers.vary = 'Origin';
    return { status: 200, body: '', headers };
  },

  header_filter(p, ctx) {
    const res = ctx.response;
    if (!p.originsIsStar) res.setHeader('vary', withVaryOrigin(res.header('vary')));
    const fixed = p.fixed;
    if (fixed !== undefined) {
      for (let i = 0; i < fixed.length; i += 2) res.setHeader(fixed[i]!, fixed[i + 1]);
      return;
    }
    const headers = corsHeaders(p, ctx, requestOrigin(ctx));
    for (const name in headers) res.setHeader(name, headers[name]);
  },
});
