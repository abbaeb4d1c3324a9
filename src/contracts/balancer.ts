/** One upstream node as the balancers and health checkers see it. */
export interface BalancerNode {
  /** `host:port`, unique within one upstream. */
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  readonly priority: number;
}

export interface PickContext {
  /** For chash: the value of the configured `key` (var, header, cookie or consumer), already resolved. */
  hashKey?: string;
  /** Node ids already tried for this request (retries skip them while others remain). */
  tried?: ReadonlySet<string>;
}

/**
 * Picks a node for one attempt. Built over the *healthy* nodes of one upstream; the
 * upstream runtime rebuilds it when health changes, so `pick` never looks at health.
 * Contract suite: test/contract/balancer.contract.ts.
 */
export interface Balancer {
  pick(ctx: PickContext): BalancerNode | undefined;
  /** The attempt on `node` began (least_conn counts it). */
  acquire?(node: BalancerNode): void;
  /**
   * The attempt on `node` ended after `latencyMs` (ewma learns from it; least_conn releases).
   * `latencyMs` undefined: the attempt ended for a reason that says nothing about the node
   * (the client went away or stalled its upload), so nothing is learnt from it.
   */
  release?(node: BalancerNode, latencyMs: number | undefined, failed: boolean): void;
}

export type BalancerFactory = (nodes: readonly BalancerNode[]) => Balancer;
