import type { Balancer, BalancerNode, PickContext } from '../../../contracts/balancer.js';
import { effectiveTried, pickable } from './common.js';

/** Time constant of the average, as APISIX's ewma balancer (DECAY_TIME = 10 s). */
export const EWMA_DECAY_MS = 10_000;
/** The least a failed attempt counts as, so a node that fails fast does not look fast. */
export const EWMA_FAILURE_PENALTY_MS = 1_000;

export interface EwmaStat {
  /** Average latency in ms as of `at`. */
  value: number;
  /** Clock reading (ms) of the last sample. */
  at: number;
}

export interface EwmaOptions {
  /** Per node id; share one map across rebuilds of the same upstream so learning survives them. */
  stats?: Map<string, EwmaStat>;
  random?: () => number;
  /** Monotonic clock in ms. */
  now?: () => number;
  decayMs?: number;
}

/**
 * Latency-aware balancing. Each node keeps a time-weighted moving average of attempt
 * latency: a sample taken `dt` after the previous one gets weight `1 - e^(-dt/decay)`,
 * so the average reflects roughly the last `decay` of traffic however busy the node is.
 * When read, the average also decays towards 0 with the time since its last sample, so a
 * node that was slow gets tried again once it has been left alone for a while; a node
 * with no sample yet scores 0 and is explored first.
 *
 * Picking is "power of two choices": two distinct candidates drawn at random in
 * proportion to weight, the lower score wins. Unlike APISIX, a failed attempt is applied
 * as a peak (as in Finagle's peak EWMA): the average jumps straight up to
 * max(latency, 1 s) instead of being blended in by elapsed time, which for back-to-back
 * requests would hardly move it.
 */
export function createEwmaBalancer(nodes: readonly BalancerNode[], opts: EwmaOptions = {}): Balancer {
  const pool = pickable(nodes);
  const stats = opts.stats ?? new Map<string, EwmaStat>();
  const random = opts.random ?? Math.random;
  const now = opts.now ?? (() => performance.now());
  const decayMs = opts.decayMs ?? EWMA_DECAY_MS;

  const decayed = (stat: EwmaStat, t: number): number =>
    stat.value * Math.exp(-Math.max(0, t - stat.at) / decayMs);

  const score = (node: BalancerNode, t: number): number => {
    const stat = stats.get(node.id);
    return stat === undefined ? 0 : decayed(stat, t);
  };

  /** Weighted draw among eligible nodes, optionally excluding one index. */
  const draw = (tried: ReadonlySet<string> | undefined, exclude: number): number => {
    let total = 0;
    for (let i = 0; i < pool.length; i++) {
      if (i === exclude || (tried !== undefined && tried.has(pool[i]!.id))) continue;
      total += pool[i]!.weight;
    }
    if (total === 0) return -1;
    let r = random() * total;
    let last = -1;
    for (let i = 0; i < pool.length; i++) {
      if (i === exclude || (tried !== undefined && tried.has(pool[i]!.id))) continue;
      last = i;
      r -= pool[i]!.weight;
      if (r < 0) return i;
    }
    return last; // floating-point leftovers land on the last eligible node
  };

  return {
    pick(ctx: PickContext): BalancerNode | undefined {
      if (pool.length === 0) return undefined;
      if (pool.length === 1) return pool[0];
      const tried = effectiveTried(pool, ctx);
      const a = draw(tried, -1);
      const b = draw(tried, a);
      if (b < 0) return pool[a];
      const t = now();
      return score(pool[b]!, t) < score(pool[a]!, t) ? pool[b] : pool[a];
    },
    release(node: BalancerNode, latencyMs: number | undefined, failed: boolean): void {
      if (latencyMs === undefined) return;
      const t = now();
      const sample = Math.max(0, latencyMs);
      const stat = stats.get(node.id);
      if (failed) {
        const peak = Math.max(sample, EWMA_FAILURE_PENALTY_MS);
        stats.set(node.id, { value: Math.max(stat ? decayed(stat, t) : 0, peak), at: t });
        return;
      }
      if (stat === undefined) {
        stats.set(node.id, { value: sample, at: t });
        return;
      }
      const w = Math.exp(-Math.max(0, t - stat.at) / decayMs);
      stats.set(node.id, { value: stat.value * w + sample * (1 - w), at: t });
    },
  };
}
