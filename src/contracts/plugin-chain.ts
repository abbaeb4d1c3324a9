// The plugin chain inspector's answer (`GET /apisix/admin/routes/{id}/plugin-chain`,
// src/admin-api/plugin-chain.ts): shared by the Admin API and the dashboard's chain view.
import type { Stage } from './plugin.js';

/** Where a plugin instance's config came from. */
export type Origin = 'global_rule' | 'route' | 'service' | 'plugin_config' | 'consumer_group' | 'consumer';

export type ChainName = 'global' | 'route';
export type SkipReason = 'disabled' | 'prefer_route' | 'filter';

/** One plugin instance as the inspector shows it. */
export interface ChainEntry {
  name: string;
  /** Global rules form their own chain; everything else is merged into the route's chain. */
  chain: ChainName;
  /** The object the instance's config came from (after precedence). */
  origin: Origin;
  origin_id: string | null;
  /** Effective stage and priority (with `_meta.stage` / `_meta.priority`). */
  stage: Stage;
  priority: number;
  /** What the plugin declares. */
  declared_stage: Stage;
  declared_priority: number;
  type: string | null;
  /** `_meta.disable: true`: shown where it would run, never run. */
  disabled: boolean;
  /** `_meta.filter` as configured, null when none. */
  filter: unknown[] | null;
  /** With `?request=`: the filter's result (true when there is no filter). */
  filter_result?: boolean;
  /** Why this instance does not run in this step: disabled, a `prefer_route` global instance the route overrides, or (with `?request=`) its filter. */
  skipped?: SkipReason;
}

/** One step of the runner: one phase of one chain. Only steps with plugins are listed. */
export interface PhaseStep {
  phase: 'preflight' | 'rewrite' | 'access' | 'before_proxy' | 'header_filter' | 'body_filter' | 'log';
  chain: ChainName;
  /** The extra rewrite step for plugins only the consumer (or its group) brought in. */
  consumer_added?: true;
  plugins: ChainEntry[];
}

export interface PluginChainReport {
  route_id: string;
  route_name: string | null;
  service_id: string | null;
  plugin_config_id: string | null;
  /** False when the data plane does not serve the route (status 0, or plugins that cannot run). */
  served: boolean;
  /** Why it is not served. */
  problems: string[];
  /** References that do not resolve (the data plane answers 404 for a missing service, 503 for a missing plugin_config). */
  warnings: string[];
  /** Plugins configured in several global rules: removed from execution (APISIX 3.15). */
  global_rule_conflicts: { name: string; global_rules: string[] }[];
  /** Instances that could not be compiled in the global chain (skipped by the data plane, logged). */
  global_problems: string[];
  /** Every instance: the global chain, then the route's chain (merged with the consumer's when one is attached), each in execution order. */
  plugins: ChainEntry[];
  /** The runner's steps in order: request side, then the response side (route chain reversed, then global reversed). */
  phases: PhaseStep[];
  /** With `?request=`. */
  request?: {
    method: string;
    host: string;
    uri: string;
    /** Does this route match the request (its uri, host, methods, remote_addrs, vars)? */
    matches: boolean;
    /** The route the gateway would pick for it (null: 404). */
    matched_route_id: string | null;
    consumer: string | null;
    /** The consumer named in the request exists. */
    consumer_found: boolean | null;
    /** An auth plugin ran, so the consumer's and its group's plugins were merged in. */
    consumer_attached: boolean;
  };
}

