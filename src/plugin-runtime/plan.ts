import type { RequestPhase } from '../contracts/plugin.js';
import type { Instance } from './chain.js';

// The order of a request's plugin steps, in one place. The runner executes it and the
// plugin chain inspector (admin-api/plugin-chain.ts) prints it; neither spells the
// order out itself.

/** Which instances a step passes over. */
export const RUN_ALL = 0;
/** Global instances of a `prefer_route` plugin the route configures too. */
export const SKIP_OVERRIDDEN = 1;
/** All but the non-auth plugins only the consumer (or its group) brought in. */
export const ONLY_CONSUMER_ADDED = 2;
export type SkipMode = typeof RUN_ALL | typeof SKIP_OVERRIDDEN | typeof ONLY_CONSUMER_ADDED;

export interface RequestStep {
  readonly phase: 'preflight' | RequestPhase;
  readonly chain: 'global' | 'route';
  readonly skip: SkipMode;
  /** Runs only when a route matched (an unmatched request runs the global rules' rewrite and access, then 404s). */
  readonly routeOnly: boolean;
  /** A consumer an auth plugin attached earlier is merged into the route's chain before this step. */
  readonly mergeFirst: boolean;
  /** Runs only when a consumer is waiting for its merge. */
  readonly whenConsumerPending: boolean;
}

function step(phase: RequestStep['phase'], chain: RequestStep['chain'], o: Partial<RequestStep> = {}): RequestStep {
  return Object.freeze({
    phase, chain, skip: o.skip ?? (chain === 'global' ? SKIP_OVERRIDDEN : RUN_ALL), routeOnly: o.routeOnly ?? false,
    mergeFirst: o.mergeFirst ?? false, whenConsumerPending: o.whenConsumerPending ?? false,
  });
}

/**
 * The request side, in the seeds' order (not APISIX 3.18's): preflight hooks (global,
 * route); the global rules' rewrite, then their access (after merging a consumer the
 * global rewrite identified); the route's rewrite; the rewrite of plugins only the
 * consumer brought in (after the merge); the route's access; before_proxy (global,
 * route).
 */
export const REQUEST_STEPS: readonly RequestStep[] = Object.freeze([
  step('preflight', 'global'),
  step('preflight', 'route'),
  step('rewrite', 'global'),
  step('access', 'global', { mergeFirst: true }),
  step('rewrite', 'route', { routeOnly: true }),
  step('rewrite', 'route', { routeOnly: true, mergeFirst: true, whenConsumerPending: true, skip: ONLY_CONSUMER_ADDED }),
  step('access', 'route', { routeOnly: true }),
  step('before_proxy', 'global', { routeOnly: true }),
  step('before_proxy', 'route', { routeOnly: true }),
]);

/** The response side (header_filter, body_filter, log): the route's chain, then the global rules' (each list already reversed). */
export const RESPONSE_CHAINS: readonly { readonly chain: 'global' | 'route'; readonly skip: SkipMode }[] = Object.freeze([
  { chain: 'route', skip: RUN_ALL },
  { chain: 'global', skip: SKIP_OVERRIDDEN },
]);

/**
 * For the consumer-added rewrite step: whether `inst` is a non-auth plugin that only the
 * consumer or its group brought in. One that replaced a route instance of the same name
 * already had its rewrite (the seeds' caveat).
 */
export function addedByConsumer(inst: Instance, beforeMerge: readonly { readonly name: string }[]): boolean {
  return (inst.origin === 'consumer' || inst.origin === 'consumer_group') && inst.plugin.type !== 'auth'
    && !beforeMerge.some((s) => s.name === inst.name);
}
