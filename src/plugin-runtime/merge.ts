import type { InstanceSource, Origin } from './chain.js';

type PluginsMap = Record<string, Record<string, unknown>> | undefined;

function add(out: Map<string, InstanceSource>, plugins: PluginsMap, origin: Origin, originId: string | undefined): void {
  if (plugins === undefined) return;
  for (const [name, conf] of Object.entries(plugins)) {
    if (typeof conf !== 'object' || conf === null) continue;
    out.set(name, { name, conf, origin, originId });
  }
}

/**
 * The whole non-global precedence lives here: Consumer > Consumer Group > Route >
 * Plugin Config > Service. The winning instance replaces the loser wholesale (no deep
 * merge of fields), as in APISIX.
 */
export function mergeRoutePlugins(p: {
  service?: { id: string; plugins?: PluginsMap };
  pluginConfig?: { id: string; plugins?: PluginsMap };
  route: { id: string; plugins?: PluginsMap };
}): InstanceSource[] {
  const out = new Map<string, InstanceSource>();
  add(out, p.service?.plugins, 'service', p.service?.id);
  add(out, p.pluginConfig?.plugins, 'plugin_config', p.pluginConfig?.id);
  add(out, p.route.plugins, 'route', p.route.id);
  return [...out.values()];
}

export function mergeConsumerPlugins(routeSources: readonly InstanceSource[], group: { id: string; plugins?: PluginsMap } | undefined,
  consumer: { username: string; plugins?: PluginsMap }): InstanceSource[] {
  const out = new Map<string, InstanceSource>();
  for (const s of routeSources) out.set(s.name, s);
  add(out, group?.plugins, 'consumer_group', group?.id);
  add(out, consumer.plugins, 'consumer', consumer.username);
  return [...out.values()];
}

/**
 * All global rules as one list. A plugin configured in two different global rules is
 * removed from execution (APISIX 3.15): `onConflict` reports it.
 */
export function mergeGlobalRules(rules: readonly { id: string; plugins?: PluginsMap }[],
  onConflict: (name: string, ids: string[]) => void): InstanceSource[] {
  const seen = new Map<string, InstanceSource>();
  const conflicted = new Map<string, string[]>();
  for (const rule of rules) {
    for (const [name, conf] of Object.entries(rule.plugins ?? {})) {
      if (typeof conf !== 'object' || conf === null) continue;
      const prev = seen.get(name);
      if (prev !== undefined) {
        conflicted.set(name, [...(conflicted.get(name) ?? [prev.originId!]), rule.id]);
        continue;
      }
      seen.set(name, { name, conf, origin: 'global_rule', originId: rule.id });
    }
  }
  for (const [name, ids] of conflicted) {
    seen.delete(name);
    onConflict(name, ids);
  }
  return [...seen.values()];
}
