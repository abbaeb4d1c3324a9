import type { Balancer, BalancerFactory, BalancerNode } from '../../../contracts/balancer.js';
import { createChashBalancer } from './chash.js';
import { createEwmaBalancer, type EwmaStat } from './ewma.js';
import { createLeastConnBalancer } from './least-conn.js';
import { createRoundRobinBalancer } from './roundrobin.js';

export type BalancerType = 'roundrobin' | 'chash' | 'least_conn' | 'ewma';

export const BALANCER_TYPES: readonly BalancerType[] = ['roundrobin', 'chash', 'least_conn', 'ewma'];

/**
 * What a balancer learns that must outlive it: the upstream runtime rebuilds balancers
 * whenever the healthy set changes, and in-flight counts and latency averages must not
 * reset each time.
 */
export interface SharedBalancerState {
  active: Map<string, number>;
  ewma: Map<string, EwmaStat>;
}

export function createSharedBalancerState(): SharedBalancerState {
  return { active: new Map(), ewma: new Map() };
}

export interface CreateBalancerOptions {
  shared?: SharedBalancerState;
}

/** `type` undefined means APISIX's default, roundrobin. Unknown types throw: the schema should have refused them. */
export function createBalancer(
  type: string | undefined,
  nodes: readonly BalancerNode[],
  opts: CreateBalancerOptions = {},
): Balancer {
  switch (type ?? 'roundrobin') {
    case 'roundrobin':
      return createRoundRobinBalancer(nodes);
    case 'chash':
      return createChashBalancer(nodes);
    case 'least_conn':
      return createLeastConnBalancer(nodes, { active: opts.shared?.active });
    case 'ewma':
      return createEwmaBalancer(nodes, { stats: opts.shared?.ewma });
    default:
      throw new Error(`unknown balancer type: ${type}`);
  }
}

/** One factory per type, with fresh state each call (the contract suite's view). */
export const balancerFactories: Readonly<Record<BalancerType, BalancerFactory>> = {
  roundrobin: (nodes) => createRoundRobinBalancer(nodes),
  chash: (nodes) => createChashBalancer(nodes),
  least_conn: (nodes) => createLeastConnBalancer(nodes),
  ewma: (nodes) => createEwmaBalancer(nodes),
};

export { createChashBalancer, createEwmaBalancer, createLeastConnBalancer, createRoundRobinBalancer };
export type { EwmaStat };
