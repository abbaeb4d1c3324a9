// What limit-count, limit-req and limit-conn share: the schema fields they have in
// common (the counter policies are in redis-policy.ts), the limit key (`key_type` var / var_combination / constant, falling back to
// remote_addr as APISIX does), the counter identity of an instance, and the rejection.
import { createHash } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { PhaseResult, PluginContext } from '../../contracts/plugin.js';
import { compileVarTemplate } from './var-template.js';
import { checkVariables } from '../../core/expr/index.js';

export type LimitKeyType = 'var' | 'var_combination' | 'constant';

/** Fields every limit plugin has, with APISIX's definitions and defaults. */
export const REJECTED_CODE_SCHEMA = { type: 'integer', minimum: 200, maximum: 599, default: 503 } as const;
export const REJECTED_MSG_SCHEMA = { type: 'string', minLength: 1 } as const;
export const ALLOW_DEGRADATION_SCHEMA = { type: 'boolean', default: false } as const;

/** What a limit key reads: an HTTP request's context, or a stream session's adapted to it. */
export type LimitKeyContext = Pick<PluginContext, 'var'> & { readonly request: Pick<PluginContext['request'], 'remoteAddr'> };

function remoteAddr(ctx: LimitKeyContext): string {
  const v = ctx.var('remote_addr');
  return typeof v === 'string' ? v : ctx.request.remoteAddr;
}

/**
 * Compiles the limit key. `var`: the variable's value; `var_combination`: a template such
 * as `$remote_addr $http_x_user` (none of its variables set → no key); `constant`: the
 * text itself. No key → the client address (APISIX: "use client IP instead").
 */
export function compileLimitKey(keyType: LimitKeyType, key: string): (ctx: LimitKeyContext) => string {
  if (keyType === 'constant') return () => key;
  if (keyType === 'var_combination') {
    const template = compileVarTemplate(key);
    checkVariables(template.variables, 'key');
    return (ctx) => {
      let resolved = 0;
      const out = template.render((name) => {
        const v = ctx.var(name);
        if (v !== undefined && v !== null) resolved++;
        return v;
      });
      return resolved === 0 ? remoteAddr(ctx) : out;
    };
  }
  checkVariables([key], 'key');
  return (ctx) => {
    const v = ctx.var(key);
    return v === undefined || v === null ? remoteAddr(ctx) : typeof v === 'string' ? v : String(v);
  };
}

/** A `count` or `time_window` given as variables: resolved per request, undefined when it is not a positive integer. */
export type QuantityResolver = (ctx: PluginContext) => number | undefined;

/** A positive integer a JSON number can hold exactly (APISIX 3.18's runtime check). */
function positiveInteger(text: string): number | undefined {
  const n = text.trim() === '' ? NaN : Number(text);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** A limit's `count` / `time_window` (limit-count, ai-rate-limiting): a number now, or a resolver of the variables it names (unknown variables refused). */
export function limitQuantity(value: number | string, field: string): number | QuantityResolver {
  if (typeof value === 'number') return value;
  const template = compileVarTemplate(value);
  if (template.isStatic) {
    const n = positiveInteger(value);
    if (n === undefined) throw new Error(`${field}: "${value}" is neither a positive integer nor names a variable`);
    return n;
  }
  checkVariables(template.variables, field);
  return (ctx) => positiveInteger(template.render((name) => ctx.var(name)));
}

function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${stable(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * The version of an instance's config (APISIX `conf_version`): part of the counter
 * identity, so a changed config starts from a fresh counter. The same on every worker.
 */
export function confVersion(conf: unknown): string {
  return createHash('sha1').update(stable(conf)).digest('base64url').slice(0, 12);
}

interface ChainLike { all?: readonly { prepared: unknown; origin: string; originId: string | undefined }[] }
const scopes = new WeakMap<object, string>();

/**
 * The resource that owns an instance, as `<origin>/<id>` (`global_rule/1`, `route/r1`,
 * `service/s1`, `consumer/jack`, …) — APISIX's `_meta.parent.resource_key`, which its
 * limit plugins put in the counter key: the same plugin on a global rule and on a route
 * counts separately, and an instance from a service is shared by that service's routes.
 *
 * The plugin contract does not hand a handler its instance, so this looks the prepared
 * object up in the request's chains (the runtime's PluginRun exposes `globalChain` and
 * `routeChain`); a prepared object belongs to one config object, hence to one owner,
 * and the answer is cached. Where no chain is visible (unit tests), the route is used.
 */
export function instanceScope(prepared: object, ctx: PluginContext): string {
  return findScope(prepared, ctx) ?? `route/${ctx.routeId ?? ''}`;
}

function findScope(prepared: object, ctx: PluginContext): string | undefined {
  const hit = scopes.get(prepared);
  if (hit !== undefined) return hit;
  const run = ctx as unknown as { globalChain?: ChainLike; routeChain?: ChainLike };
  for (const chain of [run.globalChain, run.routeChain]) {
    const inst = chain?.all?.find((i) => i.prepared === prepared);
    if (inst !== undefined) {
      const scope = `${inst.origin}/${inst.originId ?? ''}`;
      scopes.set(prepared, scope);
      return scope;
    }
  }
  return undefined;
}

const prefixes = new WeakMap<object, string>();

/**
 * `<owner>:<version>:`, the counter key of an instance without the limit key: built once
 * per instance (a string per request otherwise). Where no chain shows the owner (unit
 * tests) it is the request's route, built per request.
 */
export function instanceKeyPrefix(prepared: object, version: string, ctx: PluginContext): string {
  const hit = prefixes.get(prepared);
  if (hit !== undefined) return hit;
  const scope = findScope(prepared, ctx);
  if (scope === undefined) return `route/${ctx.routeId ?? ''}:${version}:`;
  const prefix = `${scope}:${version}:`;
  prefixes.set(prepared, prefix);
  return prefix;
}

const NGINX_REASONS: Record<number, string> = {
  503: 'Service Temporarily Unavailable',
  429: 'Too Many Requests',
};

/** The body nginx (hence APISIX) sends for a bare status code. */
export function errorPage(status: number): string {
  const line = `${status} ${NGINX_REASONS[status] ?? STATUS_CODES[status] ?? ''}`.trimEnd();
  return `<html>\r\n<head><title>${line}</title></head>\r\n<body>\r\n<center><h1>${line}</h1></center>\r\n`
    + '<hr><center>gatehouse</center>\r\n</body>\r\n</html>\r\n';
}

/** APISIX `return conf.rejected_code, {error_msg = conf.rejected_msg}`; without a message nginx's page (≥ 300). */
export function rejection(status: number, message: string | undefined, headers?: Record<string, string>): PhaseResult {
  if (message !== undefined) return { status, body: { error_msg: message }, ...(headers !== undefined ? { headers } : {}) };
  if (status < 300) return { status, ...(headers !== undefined ? { headers } : {}) }; // nginx: an empty body
  return { status, body: errorPage(status), headers: { 'content-type': 'text/html; charset=utf-8', ...(headers ?? {}) } };
}

/** Waits, for delayed requests. Replaceable by unit tests (no wall-clock waits there). */
export const limitTiming = {
  sleep: (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms)),
};
