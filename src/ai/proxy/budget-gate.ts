// Token budgets per provider instance (ai-rate-limiting), asked by the plugins that pick the
// instance. ai-rate-limiting (default 601) runs its access phase before ai-proxy (110) and
// ai-proxy-multi (111) have chosen where the request goes, so it leaves this gate on the
// request instead of deciding; the proxying plugin asks it about the instance it picked
// (`ai-proxy-<provider>`, or an ai-proxy-multi instance's name) and, under a rate-limiting
// fallback strategy, which instances to skip. A route without ai-rate-limiting has no gate:
// one map lookup per request.
import type { PhaseResult, PluginContext } from '../../contracts/plugin.js';

export interface AiBudgetGate {
  /** The instances among `names` whose budget is spent (less than 1 token left); their quota headers say so. */
  spent(names: readonly string[]): Promise<ReadonlySet<string>>;
  /**
   * The request goes to `name`: its quota headers are set, and the answer to give instead
   * when its budget is spent (rejected_code / rejected_msg), else undefined.
   */
  admit(name: string): Promise<PhaseResult | undefined>;
  /** A fallback sent the request on to `name`: the tokens the answer uses are charged there. */
  movedTo(name: string): void;
}

const KEY = 'ai.budget-gate';

/** The request's budget gate, when the route has ai-rate-limiting. */
export function budgetGate(ctx: PluginContext): AiBudgetGate | undefined {
  return ctx.shared.get(KEY) as AiBudgetGate | undefined;
}

export function setBudgetGate(ctx: PluginContext, gate: AiBudgetGate): void {
  ctx.shared.set(KEY, gate);
}

/** The instance name ai-rate-limiting knows an ai-proxy provider by (APISIX's `ai-proxy-<provider>`). */
export function aiProxyInstanceName(provider: string): string {
  return `ai-proxy-${provider}`;
}
