// Route table for one config snapshot, in one of APISIX's three `router.http` modes:
// - radixtree_host_uri (default): routes whose host matches (exact, then longer wildcard,
//   then shorter) before host-less routes; within a host group exact paths, then
//   prefixes from longest to shortest;
// - radixtree_uri: the uri decides alone (exact, then longest prefix); a route's hosts are
//   one more condition of its candidates, checked after the uri matched;
// - radixtree_uri_with_parameter: as radixtree_uri, and `/:name` / `/*name` segments are
//   path parameters (matched after exact paths, before prefixes).
// Outside the parameter mode `:name` is literal text, as APISIX (no_param_match) has it.
// Candidates of one path by priority desc, longer uri, insertion order. Built once per
// snapshot; `match` is O(path length).
import type { RouteMatch, RouteMatchInput, Router } from '../../contracts/router.js';
import { compileExpr } from '../../core/expr/expr.js';
import { compileIpMatcher } from '../../core/ip-matcher.js';
import { HostIndex, compileHostCondition } from './host-index.js';
import { extractParams, parseUri, UriIndex, type Candidate, type ParsedUri } from './uri-index.js';

export interface RouterEntry<T> {
  id: string;
  route: T;
  /** From `uri` or `uris`. */
  uris: string[];
  /** Lower-case; exact or leading "*." wildcard. */
  hosts?: string[];
  /** Upper-case; empty/absent = any. */
  methods?: string[];
  /** IPs/CIDRs. */
  remoteAddrs?: string[];
  /** lua-resty-expr rule. */
  vars?: unknown[];
  /** Default 0. */
  priority: number;
  /**
   * Where buildRouter keeps what it derived from this entry (parsed uris, compiled
   * conditions, host patterns). Pass the same object again for an unchanged entry and
   * the next build skips that work: a rebuild after one write re-parses one route, not 10,000.
   */
  memo?: { prepared?: unknown };
}

export const ROUTER_MODES = ['radixtree_host_uri', 'radixtree_uri', 'radixtree_uri_with_parameter'] as const;
/** APISIX's `apisix.router.http`. */
export type RouterMode = (typeof ROUTER_MODES)[number];

export interface RouterOptions {
  /** Default radixtree_host_uri. */
  mode?: RouterMode;
}

interface Prepared<T> {
  mode: RouterMode;
  hostCondition: Candidate<T>['host'];
  conditions: Pick<Candidate<T>, 'methods' | 'remoteAddr' | 'vars'>;
  hosts: string[] | undefined;
  priority: number;
  uris: { text: string; parsed: ParsedUri }[];
  staticMatch: RouteMatch<T>;
}

function prepare<T>(entry: RouterEntry<T>, mode: RouterMode): Prepared<T> {
  const conditions = compileConditions(entry);
  const hosts = hostPatterns(entry);
  const withParams = mode === 'radixtree_uri_with_parameter';
  const priority = typeof entry.priority === 'number' && Number.isFinite(entry.priority) ? entry.priority : 0;
  if (!Array.isArray(entry.uris) || entry.uris.length === 0) throw new RouterBuildError(entry.id, 'missing uri');
  const uris: Prepared<T>['uris'] = [];
  for (const uri of new Set(entry.uris)) {
    if (typeof uri !== 'string' || uri === '') throw new RouterBuildError(entry.id, `invalid uri '${String(uri)}'`);
    uris.push({ text: uri, parsed: parseUri(uri, withParams) });
  }
  const hostCondition = mode !== 'radixtree_host_uri' && hosts !== undefined ? compileHostCondition(hosts) : undefined;
  return { mode, hostCondition, conditions, hosts, priority, uris, staticMatch: Object.freeze({ route: entry.route, params: undefined }) };
}

/** A route that cannot be compiled (bad uri, CIDR or vars rule); names the route. */
export class RouterBuildError extends Error {
  readonly routeId: string;
  constructor(routeId: string, message: string, options?: { cause?: unknown }) {
    super(`route ${routeId}: ${message}`, options);
    this.name = 'RouterBuildError';
    this.routeId = routeId;
  }
}

interface Placed<T> {
  cand: Candidate<T>;
  hosts: readonly string[] | undefined;
}

function compileConditions<T>(entry: RouterEntry<T>): Pick<Candidate<T>, 'methods' | 'remoteAddr' | 'vars'> {
  const methods = entry.methods !== undefined && entry.methods.length > 0
    ? [...new Set(entry.methods.map((m) => String(m).toUpperCase()))]
    : undefined;
  let remoteAddr: Candidate<T>['remoteAddr'];
  if (entry.remoteAddrs !== undefined && entry.remoteAddrs.length > 0) {
    try {
      remoteAddr = compileIpMatcher(entry.remoteAddrs);
    } catch (err) {
      throw new RouterBuildError(entry.id, (err as Error).message, { cause: err });
    }
  }
  let vars: Candidate<T>['vars'];
  if (entry.vars !== undefined && entry.vars !== null && !(Array.isArray(entry.vars) && entry.vars.length === 0)) {
    try {
      vars = compileExpr(entry.vars);
    } catch (err) {
      throw new RouterBuildError(entry.id, `invalid vars: ${(err as Error).message}`, { cause: err });
    }
  }
  return { methods, remoteAddr, vars };
}

function hostPatterns<T>(entry: RouterEntry<T>): string[] | undefined {
  if (entry.hosts === undefined || entry.hosts.length === 0) return undefined;
  const hosts = new Set<string>();
  for (const host of entry.hosts) {
    if (typeof host !== 'string' || host === '') throw new RouterBuildError(entry.id, `invalid host '${String(host)}'`);
    hosts.add(host.toLowerCase());
  }
  return [...hosts];
}

class RadixRouter<T> implements Router<T> {
  constructor(
    readonly size: number,
    private readonly hosts: HostIndex<T> | undefined,
    // Host patterns with a port compare against `http_host`, which keeps the port.
    private readonly hostsWithPort: HostIndex<T> | undefined,
    private readonly anyHost: UriIndex<T> | undefined,
  ) {}

  match(input: RouteMatchInput): RouteMatch<T> | undefined {
    let found: Candidate<T> | undefined;
    if (this.hostsWithPort !== undefined) {
      const httpHost = input.vars('http_host');
      if (typeof httpHost === 'string') found = this.hostsWithPort.match(httpHost.toLowerCase(), input);
    }
    if (found === undefined && this.hosts !== undefined) found = this.hosts.match(input.host, input);
    if (found === undefined && this.anyHost !== undefined) found = this.anyHost.match(input);
    if (found === undefined) return undefined;
    const uri = found.uri;
    return uri.kind === 'param' ? { route: found.route, params: extractParams(uri.tokens, input.path) } : found.staticMatch;
  }
}

/**
 * Builds the route table. Throws RouterBuildError naming the first route that
 * cannot be compiled. The returned match objects of routes without parameters are
 * shared and frozen: read them, do not modify them.
 */
export function buildRouter<T>(entries: RouterEntry<T>[], options: RouterOptions = {}): Router<T> {
  const mode = options.mode ?? 'radixtree_host_uri';
  const byHost = mode === 'radixtree_host_uri';
  const placed: Placed<T>[] = [];
  for (const entry of entries) {
    const memo = entry.memo;
    let prep = memo?.prepared as Prepared<T> | undefined;
    if (prep === undefined || prep.mode !== mode) {
      prep = prepare(entry, mode);
      if (memo !== undefined) memo.prepared = prep;
    }
    for (const { text, parsed } of prep.uris) {
      placed.push({
        hosts: byHost ? prep.hosts : undefined,
        cand: {
          route: entry.route,
          id: entry.id,
          uri: parsed,
          rank: 0,
          priority: prep.priority,
          seq: placed.length,
          uriLength: text.length,
          host: prep.hostCondition,
          ...prep.conditions,
          staticMatch: prep.staticMatch,
        },
      });
    }
  }

  placed.sort((a, b) => b.cand.priority - a.cand.priority || b.cand.uriLength - a.cand.uriLength || a.cand.seq - b.cand.seq);

  let hostIndex: HostIndex<T> | undefined;
  let portIndex: HostIndex<T> | undefined;
  let anyHost: UriIndex<T> | undefined;
  for (let rank = 0; rank < placed.length; rank++) {
    const { cand, hosts } = placed[rank]!;
    cand.rank = rank;
    if (hosts === undefined) {
      (anyHost ??= new UriIndex<T>()).add(cand);
      continue;
    }
    for (const host of hosts) {
      const hasPort = host.lastIndexOf(':') > host.lastIndexOf(']');
      const index = hasPort ? (portIndex ??= new HostIndex<T>()) : (hostIndex ??= new HostIndex<T>());
      index.indexFor(host).add(cand);
    }
  }
  hostIndex?.seal();
  portIndex?.seal();
  anyHost?.seal();
  return new RadixRouter(entries.length, hostIndex, portIndex, anyHost);
}
