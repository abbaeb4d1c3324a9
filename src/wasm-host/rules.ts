import type { PluginContext } from '../contracts/plugin.js';

// Higress's per-route, per-domain and per-service configuration (`_rules_`), chosen by
// the host per request so plugins of every SDK get it (wasm-go does the same matching
// inside the plugin; given a plain configuration it simply applies it). First matching
// rule wins, in array order; with no match the global keys apply if there are any,
// otherwise the plugin does nothing for the request.

const MATCH_KEYS = ['_match_route_', '_match_domain_', '_match_service_', '_match_route_prefix_'] as const;

export interface CompiledRule {
  readonly routes: ReadonlySet<string> | undefined;
  readonly routePrefixes: readonly string[] | undefined;
  readonly domains: readonly string[] | undefined;
  readonly services: readonly string[] | undefined;
  readonly configuration: Buffer;
}

export interface CompiledRules {
  /** The configuration without `_rules_` (undefined: only rules, nothing global). */
  readonly global: Buffer | undefined;
  readonly rules: readonly CompiledRule[];
}

function stringList(rule: Record<string, unknown>, key: string, i: number): string[] | undefined {
  const v = rule[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length === 0 || v.some((s) => typeof s !== 'string' || s === '')) {
    throw new Error(`_rules_[${i}].${key} must be a non-empty array of non-empty strings`);
  }
  return v as string[];
}

/** Compiles an instance configuration (without `_meta`); throws naming the bad field. */
export function compileRules(conf: Record<string, unknown>): CompiledRules {
  const { _rules_: rawRules, ...globalKeys } = conf;
  if (rawRules === undefined) return { global: Buffer.from(JSON.stringify(globalKeys)), rules: [] };
  if (!Array.isArray(rawRules)) throw new Error('_rules_ must be an array');
  const rules = rawRules.map((r, i): CompiledRule => {
    if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new Error(`_rules_[${i}] must be an object`);
    const rule = r as Record<string, unknown>;
    if (!MATCH_KEYS.some((k) => rule[k] !== undefined)) {
      throw new Error(`_rules_[${i}] has none of ${MATCH_KEYS.join(', ')}`);
    }
    const routes = stringList(rule, '_match_route_', i);
    const own: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(rule)) if (!(MATCH_KEYS as readonly string[]).includes(k)) own[k] = v;
    return {
      routes: routes === undefined ? undefined : new Set(routes),
      routePrefixes: stringList(rule, '_match_route_prefix_', i),
      domains: stringList(rule, '_match_domain_', i)?.map((d) => d.toLowerCase()),
      services: stringList(rule, '_match_service_', i),
      configuration: Buffer.from(JSON.stringify(own)),
    };
  });
  const hasGlobal = Object.keys(globalKeys).length > 0;
  return { global: hasGlobal ? Buffer.from(JSON.stringify(globalKeys)) : undefined, rules };
}

function domainMatches(pattern: string, host: string): boolean {
  if (pattern.startsWith('*')) return host.endsWith(pattern.slice(1));
  if (pattern.endsWith('*')) return host.startsWith(pattern.slice(0, -1));
  return host === pattern;
}

/** `cluster_name` as Envoy writes it: outbound|port|subset|fqdn. */
function serviceMatches(entry: string, cluster: string | undefined): boolean {
  if (cluster === undefined) return false;
  const parts = cluster.split('|');
  if (parts.length !== 4) return false;
  const [, port, , fqdn] = parts;
  const colon = entry.lastIndexOf(':');
  if (colon > 0 && /^\d+$/.test(entry.slice(colon + 1))) return entry.slice(0, colon) === fqdn && entry.slice(colon + 1) === port;
  return entry === fqdn;
}

export interface RequestFacts {
  routeName: string | undefined;
  host: string;
  cluster: string | undefined;
}

export function factsOf(ctx: PluginContext, cluster: string | undefined): RequestFacts {
  const name = ctx.var('route_name');
  const rawHost = (ctx.request.header('host') ?? ctx.request.host).toLowerCase();
  const host = rawHost.startsWith('[') ? rawHost.slice(0, rawHost.indexOf(']') + 1) : rawHost.split(':')[0]!;
  return { routeName: typeof name === 'string' && name !== '' ? name : ctx.routeId, host, cluster };
}

/** The configuration for this request, or undefined when the plugin sits this one out. */
export function selectConfiguration(c: CompiledRules, facts: RequestFacts): Buffer | undefined {
  for (const r of c.rules) {
    const route = facts.routeName;
    const routeOk = r.routes === undefined || (route !== undefined && r.routes.has(route));
    const prefixOk = r.routePrefixes === undefined || (route !== undefined && r.routePrefixes.some((p) => route.startsWith(p)));
    const domainOk = r.domains === undefined || r.domains.some((d) => domainMatches(d, facts.host));
    const serviceOk = r.services === undefined || r.services.some((s) => serviceMatches(s, facts.cluster));
    if (routeOk && prefixOk && domainOk && serviceOk) return r.configuration;
  }
  return c.global;
}
