import { setTimeout as sleep } from 'node:timers/promises';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import type { PhaseResult } from '../contracts/plugin.js';
import { checkVariables, compileExpr, isKnownVariable, type CompiledExpr } from '../core/expr/index.js';
import { compileVarTemplate, type VarTemplate } from './common/var-template.js';
import { headerMapSchema, headerValueText } from './common/headers.js';

// Chaos testing (apisix/plugins/fault-injection.lua), in rewrite: `delay` holds the
// request for `duration` seconds, then `abort` answers with `http_status` (and `body`,
// `headers`, both with $vars) instead of proxying. Each applies to `percentage` % of
// requests (all when unset) and only when one of its `vars` rules matches (each rule a
// lua-resty-expr expression; the rules are OR-ed). The delay runs before the abort.

const varsSchema = { type: 'array', maxItems: 20, items: { type: 'array' } };

export interface FaultInjectionConf {
  abort?: {
    http_status: number;
    body?: string;
    headers?: Record<string, string | number>;
    percentage?: number;
    vars?: unknown[][];
  };
  delay?: { duration: number; percentage?: number; vars?: unknown[][] };
}

interface Sampled { percentage: number | undefined; vars: CompiledExpr[] | undefined }

export interface FaultInjectionPrepared {
  abort: (Sampled & { status: number; body: VarTemplate | undefined; headers: [string, VarTemplate][] }) | undefined;
  delay: (Sampled & { ms: number }) | undefined;
}

function compileVars(where: string, vars: unknown[][] | undefined): CompiledExpr[] | undefined {
  if (vars === undefined) return undefined;
  return vars.map((rule, i) => {
    try {
      return compileExpr(rule, { checkVariable: isKnownVariable });
    } catch (err) {
      throw new Error(`failed to create vars expression ${where}.vars[${i}]: ${(err as Error).message}`);
    }
  });
}

function hit(s: Sampled, lookup: (n: string) => unknown): boolean {
  if (s.vars !== undefined) {
    let matched = false;
    for (const rule of s.vars) {
      if (rule(lookup)) {
        matched = true;
        break;
      }
    }
    if (!matched) return false;
  }
  // APISIX: math.random(1, 100) <= percentage
  return s.percentage === undefined || Math.floor(Math.random() * 100) + 1 <= s.percentage;
}

function abortResult(a: NonNullable<FaultInjectionPrepared['abort']>, lookup: (n: string) => unknown): PhaseResult {
  const result: PhaseResult = { status: a.status };
  // 204 and 304 answers carry no body (as nginx sends them).
  if (a.body !== undefined && a.status !== 204 && a.status !== 304) result.body = a.body.render(lookup);
  if (a.headers.length > 0) {
    const headers: Record<string, string> = {};
    for (const [name, t] of a.headers) headers[name] = t.render(lookup);
    result.headers = headers;
  }
  return result;
}

export default definePlugin<FaultInjectionConf, FaultInjectionPrepared>({
  name: 'fault-injection',
  description: 'Injects faults, an abort with a given status or a delay, to test how clients cope.',
  version: 0.1,
  stage: 'authorization',
  priority: 970,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      abort: {
        type: 'object',
        additionalProperties: false,
        properties: {
          // APISIX sets no maximum; above 599 is no HTTP status (above 999 every request would fail with 500).
          http_status: { type: 'integer', minimum: 200, maximum: 599 },
          body: { type: 'string', minLength: 0 },
          headers: headerMapSchema(),
          percentage: { type: 'integer', minimum: 0, maximum: 100 },
          vars: varsSchema,
        },
        required: ['http_status'],
      },
      delay: {
        type: 'object',
        additionalProperties: false,
        properties: {
          duration: { type: 'number', minimum: 0 },
          percentage: { type: 'integer', minimum: 0, maximum: 100 },
          vars: varsSchema,
        },
        required: ['duration'],
      },
    },
    minProperties: 1,
  },

  prepare(conf) {
    const a = conf.abort;
    const d = conf.delay;
    return {
      abort: a === undefined ? undefined : {
        status: a.http_status,
        body: a.body !== undefined ? compileVarTemplate(a.body) : undefined,
        headers: Object.entries(a.headers ?? {}).map(([k, v]) => {
          const t = compileVarTemplate(headerValueText(v));
          checkVariables(t.variables, `abort.headers.${k}`);
          return [k, t];
        }),
        percentage: a.percentage,
        vars: compileVars('abort', a.vars),
      },
      delay: d === undefined ? undefined : {
        ms: d.duration * 1000,
        percentage: d.percentage,
        vars: compileVars('delay', d.vars),
      },
    };
  },

  rewrite(p, ctx) {
    const lookup = (n: string): unknown => ctx.var(n);
    // Both decisions are taken on the request as it arrived, as APISIX does.
    const abort = p.abort !== undefined && hit(p.abort, lookup);
    if (p.delay !== undefined && p.delay.ms > 0 && hit(p.delay, lookup)) {
      return sleep(p.delay.ms).then(() => (abort ? abortResult(p.abort!, lookup) : undefined));
    }
    return abort ? abortResult(p.abort!, lookup) : undefined;
  },
});
