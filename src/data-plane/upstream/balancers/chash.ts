import type { Balancer, BalancerNode, PickContext } from '../../../contracts/balancer.js';
import { effectiveTried, pickable } from './common.js';
import { hash32 } from './hash.js';

/** Virtual nodes per unit of (gcd-reduced) weight, as ketama and lua-resty-chash use. */
export const POINTS_PER_WEIGHT = 160;
/** Ring size cap, so a few nodes with weights like 1000 do not build a huge ring. */
export const MAX_RING_POINTS = 1 << 17;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** How many points each node gets; a node's points depend only on its own weight unless the weights' gcd or the cap changes. */
function pointCounts(pool: readonly BalancerNode[]): number[] {
  const integral = pool.every((n) => Number.isInteger(n.weight));
  const divisor = integral ? pool.reduce((g, n) => gcd(g, n.weight), 0) || 1 : 1;
  let total = 0;
  for (const n of pool) total += (n.weight / divisor) * POINTS_PER_WEIGHT;
  const scale = total > MAX_RING_POINTS ? MAX_RING_POINTS / total : 1;
  return pool.map((n) => Math.max(1, Math.round((n.weight / divisor) * POINTS_PER_WEIGHT * scale)));
}

/**
 * Consistent hashing over a ring of virtual nodes (ketama-like). Point k of a node sits
 * at `hash32("<id>#<k>")`, so removing a node removes only its own points and only the
 * keys that mapped to them move. A key maps to the first point at or after its hash.
 *
 * A missing `hashKey` hashes as the empty string: every such request goes to one stable
 * node. Resolving the configured key (and APISIX's fallback to `remote_addr` when the
 * key's value is absent) is the caller's job, before `pick`.
 *
 * Retries walk the ring clockwise from the key's point to the next untried node, as
 * lua-resty-chash's `next` does, so a retried key still lands somewhere stable.
 */
export function createChashBalancer(nodes: readonly BalancerNode[]): Balancer {
  const pool = pickable(nodes);
  const counts = pointCounts(pool);
  const entries: { hash: number; owner: number }[] = [];
  pool.forEach((node, owner) => {
    for (let k = 0; k < counts[owner]!; k++) entries.push({ hash: hash32(`${node.id}#${k}`), owner });
  });
  // Ties on hash break by node id, not by list position, so the ring does not depend on node order.
  entries.sort((a, b) => a.hash - b.hash || (pool[a.owner]!.id < pool[b.owner]!.id ? -1 : 1));
  const hashes = Uint32Array.from(entries, (e) => e.hash);
  const owners = Int32Array.from(entries, (e) => e.owner);

  const firstAtOrAfter = (h: number): number => {
    let lo = 0;
    let hi = hashes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (hashes[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return lo === hashes.length ? 0 : lo;
  };

  return {
    pick(ctx: PickContext): BalancerNode | undefined {
      if (pool.length === 0) return undefined;
      if (pool.length === 1) return pool[0];
      const start = firstAtOrAfter(hash32(ctx.hashKey ?? ''));
      const tried = effectiveTried(pool, ctx);
      if (tried === undefined) return pool[owners[start]!];
      // Bounded by the ring size; an untried node exists, so the walk finds one.
      for (let step = 0; step < owners.length; step++) {
        const node = pool[owners[(start + step) % owners.length]!]!;
        if (!tried.has(node.id)) return node;
      }
      return pool[owners[start]!];
    },
  };
}
