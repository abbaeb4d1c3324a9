import type { BalancerNode, PickContext } from '../../../contracts/balancer.js';

/** Nodes a balancer may ever return: weight 0 means "configured but drained". */
export function pickable(nodes: readonly BalancerNode[]): BalancerNode[] {
  return nodes.filter((n) => n.weight > 0);
}

/**
 * The `tried` set to filter with, or undefined when no filtering applies: either nothing
 * was tried yet, or every pickable node was, in which case retries may reuse nodes.
 */
export function effectiveTried(
  pool: readonly BalancerNode[],
  ctx: PickContext,
): ReadonlySet<string> | undefined {
  const tried = ctx.tried;
  if (tried === undefined || tried.size === 0) return undefined;
  for (const n of pool) if (!tried.has(n.id)) return tried;
  return undefined;
}
