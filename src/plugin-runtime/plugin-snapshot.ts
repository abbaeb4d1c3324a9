import type { ConsumerRef, MatchTimeResolver, PhaseResult, Plugin, PrepareEnv } from '../contracts/plugin.js';
import { ERRORS } from '../core/errors.js';
import { PluginCost } from '../observability/plugin-cost.js';
import type { ConfigView } from '../contracts/store.js';
import { logger } from '../core/logger.js';
import { compileChain, EMPTY_CHAIN, handlersOf, type Chain, type Instance, type InstanceSource, type PrepareCache } from './chain.js';
import { mergeConsumerPlugins, mergeGlobalRules, mergeRoutePlugins } from './merge.js';
import type { PluginRegistry } from './registry.js';

type PluginsMap = Record<string, Record<string, unknown>>;

/** Shared by every snapshot, so a non-auth plugin's prepare cache survives consumer changes. */
const NO_CONSUMERS: readonly ConsumerRef[] = Object.freeze([]);

/** Match-time resolvers by plugin code and metadata object: a snapshot whose metadata did not change reuses them. */
const resolverCache = new WeakMap<Plugin, WeakMap<object, MatchTimeResolver | undefined>>();

/** A route's merged chain plus what the consumer merge needs later. */
export interface RoutePlugins {
  readonly chain: Chain;
  readonly sources: readonly InstanceSource[];
  /** Why some instance could not be compiled (unknown plugin, bad config): such a route is not served. */
  readonly problems: readonly string[];
}

/**
 * The plugin side of one config snapshot: the global chain, each route's merged chain
 * (built on first use and kept), and route × consumer chains (likewise).
 */
export class PluginSnapshot {
  readonly global: Chain;
  readonly consumers: readonly ConsumerRef[];
  /**
   * The resolvers of plugin variables route `vars` can read (Plugin.matchTimeVariables),
   * by plugin name, for the plugins whose metadata configures them; undefined when none does.
   */
  readonly matchTime: ReadonlyMap<string, MatchTimeResolver> | undefined;
  private readonly consumerByName = new Map<string, { username: string; group_id?: string; plugins?: PluginsMap; labels?: Record<string, string> }>();
  private readonly envs = new Map<string, PrepareEnv>();
  /** Route × consumer chains, by route then username (two lookups, no key string built per request). */
  private readonly consumerChains = new Map<RoutePlugins, Map<string, Chain>>();
  private readonly log = logger().child({ module: 'plugins' });

  constructor(private readonly view: ConfigView, readonly registry: PluginRegistry, private readonly cache: PrepareCache) {
    const refs: ConsumerRef[] = [];
    for (const c of view.list('consumers')) {
      const v = c.value as { username: string; group_id?: string; plugins?: PluginsMap; labels?: Record<string, string> };
      this.consumerByName.set(v.username ?? c.id, v);
      refs.push({ username: v.username ?? c.id, group_id: v.group_id, plugins: v.plugins ?? {}, labels: v.labels });
    }
    for (const cred of view.list('credentials')) {
      const [username, credId] = splitId(cred.id);
      const owner = this.consumerByName.get(username);
      if (owner === undefined) continue;
      const v = cred.value as { plugins?: PluginsMap };
      // the consumer's labels: its custom_id goes upstream whichever credential matched
      refs.push({ username, group_id: owner.group_id, credential_id: credId, plugins: v.plugins ?? {}, labels: owner.labels });
    }
    this.consumers = refs;
    const rules = [...view.list('global_rules')].map((r) => ({ id: r.id, plugins: (r.value as { plugins?: PluginsMap }).plugins }));
    this.matchTime = this.matchTimeResolvers();
    this.global = rules.length === 0 ? EMPTY_CHAIN : this.compile(mergeGlobalRules(rules, (name, ids) =>
      this.log.error({ plugin: name, global_rules: ids }, `Found ${name} configured across different global rules. Removing it from execution list`)));
  }

  private matchTimeResolvers(): ReadonlyMap<string, MatchTimeResolver> | undefined {
    let out: Map<string, MatchTimeResolver> | undefined;
    for (const { plugin } of this.registry.list()) {
      if (plugin.matchTimeVariables === undefined) continue;
      const md = this.view.get('plugin_metadata', plugin.name)?.value as Record<string, unknown> | undefined;
      if (md === undefined) continue;
      let byMetadata = resolverCache.get(plugin);
      if (byMetadata === undefined) resolverCache.set(plugin, (byMetadata = new WeakMap()));
      let resolver = byMetadata.get(md);
      if (!byMetadata.has(md)) {
        const { id: _id, ...fields } = md;
        void _id;
        try {
          resolver = plugin.matchTimeVariables(fields);
        } catch (err) {
          this.log.error({ plugin: plugin.name, err: (err as Error).message }, `plugin_metadata/${plugin.name}: its variables read nil when routes are matched`);
        }
        byMetadata.set(md, resolver);
      }
      if (resolver !== undefined) (out ??= new Map()).set(plugin.name, resolver);
    }
    return out;
  }

  private envFor = (plugin: Plugin): PrepareEnv => {
    let env = this.envs.get(plugin.name);
    if (env === undefined) {
      const md = this.view.get('plugin_metadata', plugin.name)?.value as Record<string, unknown> | undefined;
      env = Object.freeze({ metadata: md, consumers: plugin.type === 'auth' ? this.consumers : NO_CONSUMERS });
      this.envs.set(plugin.name, env);
    }
    return env;
  };

  private compile(sources: readonly InstanceSource[], problems?: string[]): Chain {
    if (sources.length === 0) return EMPTY_CHAIN;
    return compileChain(sources, this.registry, this.cache, this.envFor, (name, origin, reason) => {
      if (problems !== undefined) problems.push(`plugin [${name}] from ${origin}: ${reason}`);
      else this.log.error({ plugin: name, origin }, `plugin [${name}] skipped: ${reason}`);
    });
  }

  forRoute(route: { id: string; plugins?: PluginsMap; plugin_config_id?: string },
    service: { id: string; plugins?: PluginsMap } | undefined): RoutePlugins {
    let pluginConfig: { id: string; plugins?: PluginsMap } | undefined;
    if (route.plugin_config_id !== undefined) {
      const pc = this.view.get('plugin_configs', String(route.plugin_config_id));
      if (pc !== undefined) pluginConfig = { id: pc.id, plugins: (pc.value as { plugins?: PluginsMap }).plugins };
    }
    const sources = mergeRoutePlugins({ service, pluginConfig, route });
    const problems: string[] = [];
    return { chain: this.compile(sources, problems), sources, problems };
  }

  /** The route's chain with the consumer's group and own plugins merged in (cached per route × consumer). */
  withConsumer(rp: RoutePlugins, consumer: ConsumerRef): Chain {
    let byConsumer = this.consumerChains.get(rp);
    if (byConsumer === undefined) this.consumerChains.set(rp, (byConsumer = new Map()));
    let chain = byConsumer.get(consumer.username);
    if (chain === undefined) {
      const c = this.consumerByName.get(consumer.username) ?? consumer;
      let group: { id: string; plugins?: PluginsMap } | undefined;
      if (c.group_id !== undefined) {
        const g = this.view.get('consumer_groups', String(c.group_id));
        if (g === undefined) {
          // The group was deleted with ?force=true: as APISIX, the consumer's requests get a
          // 503 rather than running without the group's plugins.
          this.log.error({ consumer: consumer.username, group_id: c.group_id },
            `failed to fetch consumer group config by id: ${String(c.group_id)}`);
          chain = missingGroupChain(String(c.group_id));
          byConsumer.set(consumer.username, chain);
          return chain;
        }
        group = { id: g.id, plugins: (g.value as { plugins?: PluginsMap }).plugins };
      }
      // A consumer's auth plugins are its credentials, not route plugins: they are not merged.
      const notAuth = (p: PluginsMap | undefined): PluginsMap | undefined => p === undefined ? undefined
        : Object.fromEntries(Object.entries(p).filter(([name]) => this.registry.get(name)?.plugin.type !== 'auth'));
      chain = this.compile(mergeConsumerPlugins(rp.sources, group && { id: group.id, plugins: notAuth(group.plugins) },
        { username: consumer.username, plugins: notAuth(c.plugins) }));
      byConsumer.set(consumer.username, chain);
    }
    return chain;
  }
}

const MISSING_GROUP = ERRORS.GH_ERR_CONSUMER_GROUP_NOT_FOUND;

/** A chain whose access phase answers the catalogue's 503 for a consumer whose group is gone. */
function missingGroupChain(groupId: string): Chain {
  const answer: PhaseResult = { status: MISSING_GROUP.status, body: { error_msg: MISSING_GROUP.message } };
  const plugin: Plugin = {
    name: 'consumer-group-missing', version: 0, stage: 'authorization', priority: 0, schema: {},
    access: () => answer,
  };
  const inst: Instance = Object.freeze({
    plugin, name: plugin.name, conf: {}, prepared: undefined, stage: plugin.stage, stageIndex: 0,
    priority: 0, filter: undefined, filterReadsBody: false, errorResponse: undefined, errorResponseIsJson: false,
    origin: 'consumer_group', originId: groupId, index: 0,
    // not registered: the metrics name real plugins only
    cost: new PluginCost(plugin.name), handlers: handlersOf(plugin),
  });
  return Object.freeze({ ...EMPTY_CHAIN, all: [inst], access: [inst] });
}

function splitId(id: string): [string, string] {
  const i = id.indexOf('/');
  return i === -1 ? [id, id] : [id.slice(0, i), id.slice(i + 1)];
}
