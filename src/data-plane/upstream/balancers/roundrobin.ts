import type { Balancer, BalancerNode, PickContext } from '../../../contracts/balancer.js';
import { effectiveTried, pickable } from './common.js';

export interface RoundRobinOptions {
  /** Where in its cycle a fresh balancer starts; injectable so tests are deterministic. */
  random?: () => number;
}

/**
 * Smooth weighted round robin (the nginx algorithm): every pick adds each node's weight
 * to its running score, takes the highest, and subtracts the total from the winner. Over
 * any window of `sum(weights)` consecutive picks (integer weights, nothing skipped) each
 * node is chosen exactly `weight` times, interleaved rather than in bursts.
 */
export function createRoundRobinBalancer(
  nodes: readonly BalancerNode[],
  opts: RoundRobinOptions = {},
): Balancer {
  const pool = pickable(nodes);
  const current = new Float64Array(pool.length);
  let totalWeight = 0;
  for (const n of pool) totalWeight += n.weight;

  const step = (tried: ReadonlySet<string> | undefined): BalancerNode => {
    let best = -1;
    let sum = 0;
    for (let i = 0; i < pool.length; i++) {
      const node = pool[i]!;
      // Skipped nodes keep their score, so the retry does not disturb their turn.
      if (tried !== undefined && tried.has(node.id)) continue;
      current[i]! += node.weight;
      sum += node.weight;
      if (best < 0 || current[i]! > current[best]!) best = i;
    }
    current[best]! -= sum;
    return pool[best]!;
  };

  // Every worker builds the same balancer at the same moment; starting each one at a
  // random point of the cycle keeps them from all sending their first request to node 0.
  // The sequence is periodic, so this does not change the per-cycle proportions.
  if (pool.length > 1) {
    const random = opts.random ?? Math.random;
    const skip = Math.floor(random() * Math.min(totalWeight, 1024));
    for (let i = 0; i < skip; i++) step(undefined);
  }

  return {
    pick(ctx: PickContext): BalancerNode | undefined {
      if (pool.length === 0) return undefined;
      if (pool.length === 1) return pool[0];
      return step(effectiveTried(pool, ctx));
    },
  };
}
