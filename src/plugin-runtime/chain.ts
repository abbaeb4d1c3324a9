import type { Plugin, PrepareEnv, Stage } from '../contracts/plugin.js';
import type { Origin } from '../contracts/plugin-chain.js';
import type { CompiledExpr } from '../core/expr/index.js';
import type { PluginRegistry } from './registry.js';
import { compileMeta, type MetaConf } from './meta.js';
import { STAGES } from '../contracts/plugin.js';
import { COST_PHASES, pluginCost, type PluginCost } from '../observability/plugin-cost.js';

/** Where an instance's config came from (the plugin chain inspector shows it). */
export type { Origin } from '../contracts/plugin-chain.js';

/** One configured plugin, validated and prepared for one snapshot. */
export interface Instance {
  readonly plugin: Plugin;
  readonly name: string;
  readonly conf: Record<string, unknown>;
  readonly prepared: unknown;
  readonly stage: Stage;
  readonly stageIndex: number;
  readonly priority: number;
  readonly filter: CompiledExpr | undefined;
  /** The filter reads the request body: a request phase reads it (bounded) before evaluating the filter. */
  readonly filterReadsBody: boolean;
  readonly errorResponse: Buffer | undefined;
  readonly errorResponseIsJson: boolean;
  readonly origin: Origin;
  readonly originId: string | undefined;
  /** Index in the chain: the per-request filter cache is an array keyed by it. */
  readonly index: number;
  /** Where the runner records this plugin's time per phase (shared by every instance of the plugin). */
  readonly cost: PluginCost;
  /**
   * The plugin's handler per phase, indexed like COST_PHASES (undefined: none). The runner
   * calls through this array: `plugin[phase]` over plugin objects of many shapes is a
   * megamorphic keyed load on every call (~0.25 µs a request on a 5-plugin route).
   */
  readonly handlers: readonly (PhaseHandler | undefined)[];
}

/** Any phase handler, called with the plugin as `this`. */
export type PhaseHandler = (this: Plugin, ...args: never[]) => unknown;

/** Instances of one object (or of the merged route/service/consumer set), sorted, with per-phase lists. */
export interface Chain {
  readonly all: readonly Instance[];
  readonly preflight: readonly Instance[];
  readonly rewrite: readonly Instance[];
  readonly access: readonly Instance[];
  readonly before_proxy: readonly Instance[];
  /** Response-side lists are already reversed (the onion). */
  readonly header_filter: readonly Instance[];
  readonly body_filter: readonly Instance[];
  readonly log: readonly Instance[];
  /** Every body_filter only reads the body (Plugin.keepsBodyLength): the response keeps its Content-Length. */
  readonly bodyKeepsLength?: boolean;
  /** Some instance shows handler calls (Plugin.showsHandlerCalls): with node `tracing`, its requests record them. */
  readonly recordsHandlerCalls?: boolean;
}

export const EMPTY_CHAIN: Chain = Object.freeze({
  all: [], preflight: [], rewrite: [], access: [], before_proxy: [], header_filter: [], body_filter: [], log: [],
  bodyKeepsLength: true,
});

export interface InstanceSource {
  name: string;
  conf: Record<string, unknown>;
  origin: Origin;
  originId: string | undefined;
}

/**
 * Caches `prepare` per config object for the life of a snapshot builder: unchanged
 * objects keep their identity across store events, so a rebuild re-prepares only what
 * changed.
 */
export class PrepareCache {
  private cache = new WeakMap<object, { env: PrepareEnv; plugin: Plugin; prepared: unknown }>();

  get(plugin: Plugin, conf: Record<string, unknown>, env: PrepareEnv): unknown {
    if (plugin.prepare === undefined) return conf;
    const hit = this.cache.get(conf);
    // A reloaded plugin is a new object: its code prepares again.
    if (hit !== undefined && hit.plugin === plugin && hit.env.metadata === env.metadata && hit.env.consumers === env.consumers
      && hit.env.subsystem === env.subsystem) return hit.prepared;
    const prepared = plugin.prepare(conf, env);
    this.cache.set(conf, { env, plugin, prepared });
    return prepared;
  }
}

/** A plugin's phase handlers in COST_PHASES order. */
export function handlersOf(plugin: Plugin): (PhaseHandler | undefined)[] {
  return COST_PHASES.map((phase) => {
    const fn = (plugin as unknown as Record<string, unknown>)[phase];
    return typeof fn === 'function' ? fn as PhaseHandler : undefined;
  });
}

export function compileChain(
  sources: readonly InstanceSource[], registry: PluginRegistry, cache: PrepareCache,
  envFor: (plugin: Plugin) => PrepareEnv, onSkip: (name: string, origin: Origin, reason: string) => void,
): Chain {
  const built: Omit<Instance, 'index'>[] = [];
  for (const src of sources) {
    const lp = registry.get(src.name);
    if (lp === undefined) {
      onSkip(src.name, src.origin, `unknown plugin [${src.name}]`);
      continue;
    }
    let meta;
    let prepared: unknown;
    try {
      registry.checkInstance(src.name, src.conf);
      meta = compileMeta(src.conf._meta as MetaConf | undefined);
      if (meta.disabled) continue;
      prepared = cache.get(lp.plugin, src.conf, envFor(lp.plugin));
    } catch (err) {
      onSkip(src.name, src.origin, (err as Error).message);
      continue;
    }
    const stage = meta.stage ?? lp.plugin.stage;
    built.push({
      plugin: lp.plugin, name: src.name, conf: src.conf, prepared, stage, stageIndex: STAGES.indexOf(stage),
      priority: meta.priority ?? lp.plugin.priority, filter: meta.filter, filterReadsBody: meta.filterReadsBody,
      errorResponse: meta.errorResponse, errorResponseIsJson: meta.errorResponseIsJson,
      origin: src.origin, originId: src.originId, cost: pluginCost(src.name), handlers: handlersOf(lp.plugin),
    });
  }
  built.sort((a, b) => a.stageIndex - b.stageIndex || b.priority - a.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const all = built.map((b, index) => Object.freeze({ ...b, index }));
  const having = (phase: keyof Plugin): Instance[] => all.filter((i) => typeof i.plugin[phase] === 'function');
  const bodyFilters = having('body_filter').filter((i) => i.plugin.filtersBody?.(i.prepared) ?? true);
  return Object.freeze({
    all,
    preflight: having('preflight'),
    rewrite: having('rewrite'),
    access: having('access'),
    before_proxy: having('before_proxy'),
    header_filter: having('header_filter').reverse(),
    body_filter: bodyFilters.reverse(),
    log: having('log').reverse(),
    bodyKeepsLength: bodyFilters.every((i) => i.plugin.keepsBodyLength?.(i.prepared) === true),
    recordsHandlerCalls: all.some((i) => i.plugin.showsHandlerCalls === true),
  });
}
