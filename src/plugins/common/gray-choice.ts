// How frontend-gray picks a front-end version, as Higress's util.FilterGrayRule, GetVersion
// and FilterMultiVersionGrayRule do, with the per-user facts read once per request.
import { crc32 } from 'node:zlib';

export interface GrayRule {
  name: string;
  /** User ids (the grayKey value) that hit the rule. */
  ids: ReadonlySet<string>;
  /** Cookie `tagKey` with one of `tagValues` hits the rule. */
  tagKey: string | undefined;
  tagValues: ReadonlySet<string>;
}

/** A prefix and what replaces it, longest prefix first (then in code-point order), as Higress sorts them. */
export interface Routing { prefix: string; target: string }

export interface Deployment {
  version: string;
  backendVersion: string;
  /** versionPredicates: another version for paths under a prefix (micro-frontends). */
  predicates: readonly Routing[];
  /** The rule a gray deployment answers to (none for the base, or in percentage mode). */
  rule: GrayRule | undefined;
  /** Percentage mode: the uid bucket (0–99) this deployment takes users below. */
  below: number;
}

export interface GrayDeployments {
  base: Deployment;
  /** The enabled gray deployments, in config order. */
  gray: readonly Deployment[];
  /** Percentage mode when not empty: the gray deployments with a weight, the rules are not consulted. */
  weighted: readonly Deployment[];
  /** Base and enabled gray deployments by version, for the sticky `x-higress-tag` cookie. */
  byVersion: ReadonlyMap<string, Deployment>;
  /** Some deployment has versionPredicates. */
  multiVersion: boolean;
}

/** What the request tells about its user. */
export interface UserFacts {
  /** The grayKey value (graySubKey applied); '' when the request has none. */
  id: string;
  cookie: (name: string) => string | undefined;
  /** The unique id (percentage mode). */
  uid: string;
}

export type ChoiceSource = 'weight' | 'rule' | 'base' | 'cookie' | 'predicate';

export interface Choice { deployment: Deployment; source: ChoiceSource }

/** Sorted the way Higress sorts routing keys: longer first, then lexicographically. */
export function routingTable(map: Readonly<Record<string, string>> | undefined): Routing[] {
  return Object.entries(map ?? {})
    .map(([prefix, target]) => ({ prefix, target }))
    .sort((a, b) => b.prefix.length - a.prefix.length || (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
}

export function longestPrefix(table: readonly Routing[], path: string): Routing | undefined {
  return table.find((r) => path.startsWith(r.prefix));
}

/** Higress's percentage bucket: CRC-32 (IEEE) of the unique id, mod 100. */
export function uidBucket(uid: string): number {
  return crc32(uid) % 100;
}

export function ruleHit(rule: GrayRule, user: UserFacts): boolean {
  if (user.id !== '' && rule.ids.has(user.id)) return true;
  if (rule.tagKey === undefined || rule.tagValues.size === 0) return false;
  return rule.tagValues.has(user.cookie(rule.tagKey) ?? '');
}

/** FilterGrayRule: by weight in percentage mode, else the first gray deployment whose rule the user hits, else the base. */
export function chooseByRules(d: GrayDeployments, user: UserFacts): Choice {
  if (d.weighted.length > 0) {
    const bucket = uidBucket(user.uid);
    const hit = d.weighted.find((w) => bucket < w.below);
    return hit === undefined ? { deployment: d.base, source: 'base' } : { deployment: hit, source: 'weight' };
  }
  for (const g of d.gray) {
    if (g.rule !== undefined && ruleHit(g.rule, user)) return { deployment: g, source: 'rule' };
  }
  return { deployment: d.base, source: 'base' };
}

/**
 * A file (not a page): with versionPredicates, the chosen deployment's version for the
 * path's prefix; otherwise the version the page was served with (the `x-higress-tag`
 * cookie, when it names a configured version), so a page's assets stay on its version.
 */
export function chooseForFile(d: GrayDeployments, user: UserFacts, path: string, pinned: string | undefined): Choice {
  const byRules = chooseByRules(d, user);
  if (d.multiVersion) {
    const p = longestPrefix(byRules.deployment.predicates, path);
    if (p === undefined) return byRules;
    return { deployment: { ...byRules.deployment, version: p.target, backendVersion: '' }, source: 'predicate' };
  }
  if (pinned === undefined || pinned === byRules.deployment.version) return byRules;
  const kept = d.byVersion.get(pinned);
  return kept === undefined ? byRules : { deployment: kept, source: 'cookie' };
}
