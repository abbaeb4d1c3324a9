import type { Balancer, BalancerNode, PickContext } from '../../../contracts/balancer.js';
import { effectiveTried, pickable } from './common.js';

export interface LeastConnOptions {
  /**
   * Active attempts per node id. Pass the same map to every balancer built for one
   * upstream so counts survive the rebuild that follows a health change.
   */
  active?: Map<string, number>;
}

/**
 * Picks the node with the lowest `(active + 1) / weight`: the fewest attempts in flight
 * relative to its capacity (the +1 makes an idle heavy node beat an idle light one).
 * Ties go to the first candidate after the previous pick, so equal nodes take turns
 * instead of the first one absorbing every request while nothing is in flight.
 */
export function createLeastConnBalancer(
  nodes: readonly BalancerNode[],
  opts: LeastConnOptions = {},
): Balancer {
  const pool = pickable(nodes);
  const active = opts.active ?? new Map<string, number>();
  let cursor = 0;

  return {
    pick(ctx: PickContext): BalancerNode | undefined {
      if (pool.length === 0) return undefined;
      if (pool.length === 1) return pool[0];
      const tried = effectiveTried(pool, ctx);
      let best = -1;
      let bestScore = Infinity;
      for (let step = 0; step < pool.length; step++) {
        const i = (cursor + step) % pool.length;
        const node = pool[i]!;
        if (tried !== undefined && tried.has(node.id)) continue;
        const score = ((active.get(node.id) ?? 0) + 1) / node.weight;
        if (score < bestScore) {
          bestScore = score;
          best = i;
        }
      }
      cursor = (best + 1) % pool.length;
      return pool[best];
    },
    acquire(node: BalancerNode): void {
      active.set(node.id, (active.get(node.id) ?? 0) + 1);
    },
    release(node: BalancerNode): void {
      // Never below zero: a release can arrive for an attempt counted before a reset.
      const n = (active.get(node.id) ?? 0) - 1;
      if (n > 0) active.set(node.id, n);
      else active.delete(node.id);
    },
  };
}
