// ai-rate-limiting: APISIX's. Token budgets per provider instance in fixed windows, counted
// on the real usage: `instances[name]` (an ai-proxy-multi instance, or `ai-proxy-<provider>`
// for ai-proxy), else the top-level `limit` (one budget every such instance shares, as
// APISIX's `ai-rate-limiting#global` key), or with `rules` budgets keyed on request
// variables. Priority 601 (beside ai-token-ratelimit's 600, above ai-proxy 110): its access
// runs before an instance is picked, so it only leaves a budget gate on the request
// (src/ai/proxy/budget-gate.ts) that the proxying plugin asks once it picked: a dry run costing 1,
// refused with `rejected_code` when less than 1 token is left. ai-proxy-multi's
// rate-limiting fallback strategies skip spent instances through the same gate. At the
// log phase the answer's usage (by `limit_strategy`, or `cost_expr` over the raw usage) is
// added to the window of the instance that answered: one call may overshoot, the next is
// refused. Counters and policies are limit-count's (src/plugins/common/redis-policy.ts):
// this node's (shared by its workers) or Redis. Without ai-proxy / ai-proxy-multi on the
// route nothing asks the gate and the plugin does nothing (as APISIX).
import type { PhaseResult, PluginContext } from '../contracts/plugin.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { checkVariables, registerVariable } from '../core/expr/index.js';
import { counter } from '../observability/metrics.js';
import {
  ALLOW_DEGRADATION_SCHEMA, REJECTED_CODE_SCHEMA, REJECTED_MSG_SCHEMA, instanceKeyPrefix, limitQuantity, rejection,
  type QuantityResolver,
} from './common/limits.js';
import {
  counterFailure, counterVersion, policyCounters, storeOf, withRedisPolicies, type PolicyCounters, type RedisPolicyConf,
} from './common/redis-policy.js';
import { compileVarTemplate, type VarTemplate } from './common/var-template.js';
import { routeCounter, setLoggedText } from './common/observe.js';
import { budgetGate, setBudgetGate, type AiBudgetGate } from '../ai/proxy/budget-gate.js';
import { compileCostExpr, evaluateCost, usageFields, type CostFn } from '../ai/proxy/cost-expr.js';
import { watchedAiContext } from '../ai/context/usage-watch.js';

type Strategy = 'total_tokens' | 'prompt_tokens' | 'completion_tokens' | 'expression';

export interface AiRateLimitingConf extends RedisPolicyConf {
  limit?: number | string;
  time_window?: number | string;
  instances?: { name: string; limit: number | string; time_window: number | string }[];
  rules?: { count: number | string; time_window: number | string; key: string; header_prefix?: string }[];
  limit_strategy: Strategy;
  cost_expr?: string;
  show_limit_quota_header: boolean;
  rejected_code: number;
  rejected_msg?: string;
}

type Quantity = number | QuantityResolver;

interface Budget { limit: Quantity; windowSeconds: Quantity; key: string }

interface Rule { count: Quantity; windowSeconds: Quantity; key: VarTemplate; hasDefault: boolean; headerPrefix: string }

interface Prepared {
  byInstance: Map<string, Budget>;
  global: Budget | undefined;
  rules: Rule[] | undefined;
  usageOf: (ctx: PluginContext) => number | undefined;
  showHeaders: boolean;
  rejectedCode: number;
  rejectedMsg: string | undefined;
  degrade: boolean;
  counters: PolicyCounters;
  version: string;
}

/** One window a request is counted in, resolved for it. */
interface Window { key: string; limit: number; windowMs: number; headerInfix: string; headerSuffix: string }

const PLUGIN = 'ai-rate-limiting';
const FAILED: PhaseResult = { status: 500, body: { error_msg: 'failed to limit count' } };
const UNRESOLVED: PhaseResult = { status: 500 };

/** For access logs: the instance whose budget the request was checked against (and charged to). */
registerVariable('ai_rate_limiting_instance');
/** The tokens charged at the end of the request (0 when none). */
registerVariable('ai_rate_limiting_cost');
/** `limited` when the request was refused. */
registerVariable('ai_rate_limiting_status');

const countRejected = routeCounter('gatehouse_ai_rate_limiting_rejected_total', 'Requests ai-rate-limiting refused, by route.');
let tokensCharged: ReturnType<typeof counter<'route' | 'instance'>> | undefined;

const quantitySchema = (min: Record<string, number>) => ({ oneOf: [{ type: 'integer', ...min }, { type: 'string', minLength: 1 }] });
/** A non-empty array of objects with exactly these properties. */
const listOf = (properties: Record<string, unknown>, required: string[]) =>
  ({ type: 'array', minItems: 1, items: { type: 'object', additionalProperties: false, properties, required } });

export default definePlugin<AiRateLimitingConf, Prepared>({
  name: PLUGIN,
  description: 'Limits the tokens AI calls use per provider instance (or per request key) in fixed windows, counted on the real usage.',
  version: '0.1',
  stage: 'default',
  // beside ai-token-ratelimit (600), above ai-proxy-multi (111) and ai-proxy (110)
  priority: 601,
  schema: withRedisPolicies({
    type: 'object',
    additionalProperties: false,
    properties: {
      limit: quantitySchema({ exclusiveMinimum: 0 }),
      time_window: quantitySchema({ exclusiveMinimum: 0 }),
      instances: listOf({
        name: { type: 'string', minLength: 1 },
        limit: quantitySchema({ minimum: 1 }),
        time_window: quantitySchema({ minimum: 1 }),
      }, ['name', 'limit', 'time_window']),
      rules: listOf({
        count: quantitySchema({ exclusiveMinimum: 0 }),
        time_window: quantitySchema({ exclusiveMinimum: 0 }),
        key: { type: 'string', minLength: 1 },
        header_prefix: { type: 'string', minLength: 1 },
      }, ['count', 'time_window', 'key']),
      limit_strategy: { type: 'string', enum: ['total_tokens', 'prompt_tokens', 'completion_tokens', 'expression'], default: 'total_tokens' },
      cost_expr: { type: 'string', minLength: 1 },
      show_limit_quota_header: { type: 'boolean', default: true },
      rejected_code: REJECTED_CODE_SCHEMA,
      rejected_msg: REJECTED_MSG_SCHEMA,
      allow_degradation: ALLOW_DEGRADATION_SCHEMA,
    },
    dependencies: { limit: ['time_window'], time_window: ['limit'] },
    oneOf: [
      { anyOf: [{ required: ['limit', 'time_window'] }, { required: ['instances'] }] },
      { required: ['rules'] },
    ],
  }),

  prepare(conf) {
    const strategy = conf.limit_strategy ?? 'total_tokens';
    if (strategy === 'expression' && conf.cost_expr === undefined) throw new Error("cost_expr is required when limit_strategy is 'expression'");
    if (strategy !== 'expression' && conf.cost_expr !== undefined) throw new Error("cost_expr: only used when limit_strategy is 'expression'");
    let cost: CostFn | undefined;
    if (conf.cost_expr !== undefined) {
      try {
        cost = compileCostExpr(conf.cost_expr);
      } catch (e) {
        throw new Error(`invalid cost_expr: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    const byInstance = new Map<string, Budget>();
    (conf.instances ?? []).forEach((inst, i) => {
      if (byInstance.has(inst.name)) throw new Error(`instances[${i}].name: duplicate instance name ${inst.name}`);
      byInstance.set(inst.name, {
        limit: limitQuantity(inst.limit, `instances[${i}].limit`),
        windowSeconds: limitQuantity(inst.time_window, `instances[${i}].time_window`),
        key: inst.name,
      });
    });
    return {
      byInstance,
      global: conf.limit === undefined || conf.time_window === undefined ? undefined
        : { limit: limitQuantity(conf.limit, 'limit'), windowSeconds: limitQuantity(conf.time_window, 'time_window'), key: `${PLUGIN}#global` },
      rules: conf.rules?.map((r, i) => {
        const key = compileVarTemplate(r.key);
        checkVariables(key.variables, `rules[${i}].key`);
        return {
          count: limitQuantity(r.count, `rules[${i}].count`),
          windowSeconds: limitQuantity(r.time_window, `rules[${i}].time_window`),
          key,
          hasDefault: /\$\{[^}]*\?\?/.test(r.key),
          headerPrefix: r.header_prefix ?? String(i + 1),
        };
      }),
      usageOf: usageReader(strategy, cost),
      showHeaders: conf.show_limit_quota_header !== false,
      rejectedCode: conf.rejected_code ?? 503,
      rejectedMsg: conf.rejected_msg,
      degrade: conf.allow_degradation === true,
      counters: policyCounters(conf),
      version: counterVersion(conf),
    };
  },

  access(p, ctx) {
    setBudgetGate(ctx, new RequestBudget(p, ctx));
    return undefined;
  },

  async log(p, ctx) {
    const gate = budgetGate(ctx);
    if (!(gate instanceof RequestBudget)) return;
    ctx.setVar('ai_rate_limiting_cost', 0);
    const instance = gate.chargeable();
    if (instance === undefined) return;
    const tokens = p.usageOf(ctx);
    if (tokens === undefined || tokens <= 0) return;
    ctx.setVar('ai_rate_limiting_cost', tokens);
    const windows = gate.windowsOf(instance);
    if (!Array.isArray(windows)) return;
    try {
      await Promise.all(windows.map((w) => storeOf(p.counters).incr(w.key, tokens, w.windowMs)));
    } catch (err) {
      counterFailure(PLUGIN, p.counters, true, ctx, err, FAILED);
      return;
    }
    tokensCharged ??= counter('gatehouse_ai_rate_limiting_tokens_total', 'Tokens ai-rate-limiting charged to budgets, by route and instance.', ['route', 'instance']);
    tokensCharged.inc({ route: ctx.routeId ?? '', instance }, tokens);
  },
});

/** Reads the answer's cost for `limit_strategy`: undefined when the answer carried no usage (or the expression failed). */
function usageReader(strategy: Strategy, cost: CostFn | undefined): (ctx: PluginContext) => number | undefined {
  return (ctx) => {
    const ai = watchedAiContext(ctx);
    if (ai?.usage === undefined) return undefined;
    switch (strategy) {
      case 'total_tokens': return ai.usage.total;
      case 'prompt_tokens': return ai.usage.prompt;
      case 'completion_tokens': return ai.usage.completion;
      case 'expression':
        try {
          return evaluateCost(cost!, usageFields(ai.rawUsage));
        } catch (err) {
          ctx.log.error({ plugin: PLUGIN, route_id: ctx.routeId }, `failed to evaluate cost_expr: ${err instanceof Error ? err.message : String(err)}`);
          return undefined;
        }
    }
  };
}

interface Verdict { spent: boolean; windows: Window[]; reads: { count: number; resetMs: number }[] }

/** The gate one request leaves for the proxying plugin (see src/ai/proxy/budget-gate.ts). */
class RequestBudget implements AiBudgetGate {
  private instance: string | undefined;
  private refused = false;
  private readonly verdicts = new Map<string, Verdict | PhaseResult>();

  constructor(private readonly p: Prepared, private readonly ctx: PluginContext) {}

  async spent(names: readonly string[]): Promise<ReadonlySet<string>> {
    const spent = new Set<string>();
    if (this.p.rules !== undefined) return spent; // rule budgets do not belong to an instance (APISIX)
    await Promise.all(names.map(async (name) => {
      const v = await this.verdict(name);
      // a budget that cannot be read counts as spent, unless degradation is allowed (APISIX)
      if ('status' in v ? !this.p.degrade : v.spent) spent.add(name);
      if (!('status' in v) && v.spent) this.announce(v);
    }));
    return spent;
  }

  async admit(name: string): Promise<PhaseResult | undefined> {
    this.instance = name;
    setLoggedText(this.ctx, 'ai_rate_limiting_instance', name);
    const v = await this.verdict(name);
    if ('status' in v) return this.p.degrade ? undefined : v;
    this.announce(v);
    if (!v.spent) return undefined;
    this.refused = true;
    countRejected(this.ctx);
    this.ctx.setVar('ai_rate_limiting_status', 'limited');
    return rejection(this.p.rejectedCode, this.p.rejectedMsg);
  }

  movedTo(name: string): void {
    this.instance = name;
    setLoggedText(this.ctx, 'ai_rate_limiting_instance', name);
  }

  /** The instance the answer's tokens go to: none when the request was refused or never reached one. */
  chargeable(): string | undefined {
    return this.refused ? undefined : this.instance;
  }

  /** The windows `name` is counted in for this request, or the failure to answer when a limit does not resolve. */
  windowsOf(name: string): Window[] | PhaseResult {
    const { p, ctx } = this;
    const prefix = instanceKeyPrefix(p, p.version, ctx);
    if (p.rules === undefined) {
      const budget = p.byInstance.get(name) ?? p.global;
      if (budget === undefined) return [];
      const w = resolveWindow(budget.limit, budget.windowSeconds, ctx);
      if (w === undefined) return this.unresolved('limit or time_window');
      return [{ key: `${prefix}${w.dynamic}${budget.key}`, limit: w.limit, windowMs: w.windowMs, headerInfix: '', headerSuffix: `-${name}` }];
    }
    const windows: Window[] = [];
    for (const [i, rule] of p.rules.entries()) {
      let resolved = 0;
      const key = rule.key.render((v) => {
        const value = ctx.var(v);
        if (value !== undefined && value !== null) resolved++;
        return value;
      });
      if (resolved === 0 && !rule.hasDefault) continue; // a rule keyed on variables this request lacks does not apply
      const w = resolveWindow(rule.count, rule.windowSeconds, ctx);
      if (w === undefined) return this.unresolved(`rules[${i}].count or time_window`);
      windows.push({ key: `${prefix}rule${i}:${w.dynamic}${key}`, limit: w.limit, windowMs: w.windowMs, headerInfix: `${rule.headerPrefix}-`, headerSuffix: '' });
    }
    return windows.length > 0 ? windows : this.unresolved('rules (none applies to the request)');
  }

  private unresolved(what: string): PhaseResult {
    this.ctx.log.error({ plugin: PLUGIN, route_id: this.ctx.routeId }, `failed to get rate limit rules: ${what} did not resolve`);
    return UNRESOLVED;
  }

  /** The dry run costing 1 of `name`'s windows, once per request and instance. */
  private async verdict(name: string): Promise<Verdict | PhaseResult> {
    const known = this.verdicts.get(name);
    if (known !== undefined) return known;
    const windows = this.windowsOf(name);
    let verdict: Verdict | PhaseResult;
    if (!Array.isArray(windows)) verdict = windows;
    else {
      try {
        const reads = await Promise.all(windows.map((w) => storeOf(this.p.counters).incr(w.key, 0, w.windowMs)));
        verdict = { windows, reads, spent: reads.some((r, i) => windows[i]!.limit - r.count < 1) };
      } catch (err) {
        verdict = counterFailure(PLUGIN, this.p.counters, false, this.ctx, err, FAILED)!;
      }
    }
    this.verdicts.set(name, verdict);
    return verdict;
  }

  /** The quota headers of a verdict (Remaining 0 on a spent window). */
  private announce(v: Verdict): void {
    if (!this.p.showHeaders) return;
    v.windows.forEach((w, i) => {
      const read = v.reads[i]!;
      const remaining = Math.max(0, w.limit - read.count);
      this.ctx.setResponseHeader(`X-AI-${w.headerInfix}RateLimit-Limit${w.headerSuffix}`, String(w.limit));
      this.ctx.setResponseHeader(`X-AI-${w.headerInfix}RateLimit-Remaining${w.headerSuffix}`, String(remaining));
      this.ctx.setResponseHeader(`X-AI-${w.headerInfix}RateLimit-Reset${w.headerSuffix}`, String(Math.max(0, Math.ceil(read.resetMs / 1000))));
    });
  }
}

/** A budget's limit and window for this request; `dynamic` goes into the counter key when they came from variables. */
function resolveWindow(limit: Quantity, windowSeconds: Quantity, ctx: PluginContext):
  { limit: number; windowMs: number; dynamic: string } | undefined {
  const l = typeof limit === 'number' ? limit : limit(ctx);
  const s = typeof windowSeconds === 'number' ? windowSeconds : windowSeconds(ctx);
  if (l === undefined || s === undefined) return undefined;
  const isStatic = typeof limit === 'number' && typeof windowSeconds === 'number';
  return { limit: l, windowMs: s * 1000, dynamic: isStatic ? '' : `${l}/${s}:` };
}
