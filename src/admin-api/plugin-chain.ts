// The plugin chain inspector: `GET /apisix/admin/routes/{id}/plugin-chain`.
//
// Shows, for one route, every plugin instance that would run, phase by phase, in the
// order the runner runs them, with where each instance's config came from, its stage
// and effective priority, and its `_meta` (disabled, filter). With `?request=` it also
// matches the request against the routes and evaluates each `_meta.filter`.
//
// Everything is built with the data plane's own code: PluginSnapshot.forRoute (which
// uses mergeRoutePlugins), mergeGlobalRules, mergeConsumerPlugins and compileChain from
// src/plugin-runtime, buildRouter for matching, RequestVars for variables and
// PluginRun.passesFilter for filters, and the order of steps is the plan the runner
// executes (REQUEST_STEPS, RESPONSE_CHAINS in plugin-runtime/plan.ts). What this file
// adds is a simulation of the auth plugins' effect: when the consumer is attached.
import { PHASE_INDEX } from '../observability/plugin-cost.js';
import { addedByConsumer, ONLY_CONSUMER_ADDED, REQUEST_STEPS, RESPONSE_CHAINS } from '../plugin-runtime/plan.js';
import type { HttpRequest } from '../data-plane/http1/request.js';
import type { Plugin, PrepareEnv, Stage } from '../contracts/plugin.js';
import type { Route, Service } from '../contracts/resources.js';
import type { Router } from '../contracts/router.js';
import { RESOURCE_KINDS } from '../contracts/resources.js';
import type { ConfigStore, StoredObject } from '../contracts/store.js';
import { ConfigState } from '../config-store/state.js';
import { logger } from '../core/logger.js';
import type { ExchangeView } from '../contracts/exchange.js';
import { parseRequestTarget } from '../data-plane/request-target.js';
import { RequestVars, type MatchTimeResolvers } from '../data-plane/request-vars.js';
import { buildRouter, RouterBuildError, type RouterEntry, type RouterMode } from '../data-plane/router/router.js';
import type { ConfigView } from '../contracts/store.js';
import { compileChain, EMPTY_CHAIN, PrepareCache, type Chain, type Instance, type InstanceSource } from '../plugin-runtime/chain.js';
import type { ChainEntry, ChainName, PhaseStep, PluginChainReport } from '../contracts/plugin-chain.js';
import { mergeConsumerPlugins, mergeGlobalRules } from '../plugin-runtime/merge.js';
import { PluginRun } from '../plugin-runtime/plugin-run.js';
import { PluginSnapshot } from '../plugin-runtime/plugin-snapshot.js';
import type { PluginRegistry } from '../plugin-runtime/registry.js';
import { AdminError } from './errors.js';
import type { AdminRouteHandler } from './server.js';

export type { ChainEntry, ChainName, PhaseStep, PluginChainReport, SkipReason } from '../contracts/plugin-chain.js';

type PluginsMap = Record<string, Record<string, unknown>>;

/** The request of `?request=` (URL-encoded JSON). Every field is optional. */
export interface InspectRequest {
  method?: string;
  /** Path, optionally with a query string; default `/`. */
  path?: string;
  /** Host (else the `host` header). */
  host?: string;
  headers?: Record<string, string>;
  /** Query arguments, added to those in `path`. */
  args?: Record<string, string | string[]>;
  remote_addr?: string;
  /** Username of the consumer an auth plugin would identify. */
  consumer?: string;
  scheme?: 'http' | 'https';
  server_port?: number;
}

/** Parses and checks `?request=`. Throws a 400 AdminError naming the bad field. */
export function parseInspectRequest(raw: string): InspectRequest {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    throw new AdminError(400, `invalid request parameter: ${(e as Error).message}`);
  }
  const bad = (field: string, what: string): AdminError => new AdminError(400, `invalid request parameter: "${field}" ${what}`);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new AdminError(400, 'invalid request parameter: expected a JSON object');
  const o = v as Record<string, unknown>;
  const known = new Set(['method', 'path', 'host', 'headers', 'args', 'remote_addr', 'consumer', 'scheme', 'server_port']);
  for (const k of Object.keys(o)) if (!known.has(k)) throw bad(k, 'is not a known field');
  for (const k of ['method', 'path', 'host', 'remote_addr', 'consumer'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'string') throw bad(k, 'must be a string');
  }
  if (typeof o.path === 'string' && !o.path.startsWith('/')) throw bad('path', 'must start with /');
  if (o.scheme !== undefined && o.scheme !== 'http' && o.scheme !== 'https') throw bad('scheme', 'must be http or https');
  if (o.server_port !== undefined && !(Number.isInteger(o.server_port) && (o.server_port as number) > 0 && (o.server_port as number) < 65536)) {
    throw bad('server_port', 'must be a port number');
  }
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (o.headers !== undefined) {
    if (!isObj(o.headers) || Object.values(o.headers).some((h) => typeof h !== 'string')) throw bad('headers', 'must be an object of strings');
  }
  if (o.args !== undefined) {
    if (!isObj(o.args) || Object.values(o.args).some((a) => typeof a !== 'string' && !(Array.isArray(a) && a.every((x) => typeof x === 'string')))) {
      throw bad('args', 'must be an object of strings (or arrays of strings)');
    }
  }
  return o as InspectRequest;
}

/** The request as the data plane would see it: variables, and the router input. */
interface SimulatedRequest {
  req: HttpRequest;
  vars: RequestVars;
  method: string;
  host: string;
  path: string;
  remoteAddr: string;
  consumer: string | undefined;
}

function simulate(r: InspectRequest, matchTime: MatchTimeResolvers | undefined): SimulatedRequest {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers ?? {})) headers[k.toLowerCase()] = v;
  if (r.host !== undefined && headers.host === undefined) headers.host = r.host;
  let url = r.path ?? '/';
  const extra = new URLSearchParams();
  for (const [k, v] of Object.entries(r.args ?? {})) for (const one of Array.isArray(v) ? v : [v]) extra.append(k, one);
  const more = extra.toString();
  if (more !== '') url += (url.includes('?') ? '&' : '?') + more;
  const target = parseRequestTarget(url);
  if (target === undefined) throw new AdminError(400, 'invalid request parameter: "path" is not a valid request target');
  const method = (r.method ?? 'GET').toUpperCase();
  const host = hostOf(r.host ?? headers.host);
  const remoteAddr = r.remote_addr ?? '127.0.0.1';
  // Only what RequestVars reads of a request.
  const socket = { remotePort: undefined, localAddress: undefined, bytesRead: 0, bytesWritten: 0 };
  const req = { method, url, headers, httpVersion: '1.1', socket, complete: true, body: null } as unknown as HttpRequest;
  const scheme = r.scheme ?? 'http';
  const vars = new RequestVars({
    req, path: target.path, query: target.query, host, remoteAddr,
    serverPort: r.server_port ?? (scheme === 'https' ? 9443 : 9080), scheme,
  }, matchTime);
  return { req, vars, method, host, path: target.path, remoteAddr, consumer: r.consumer };
}

/** Host without port, lower-case (as the data plane reads the Host header). */
function hostOf(h: string | undefined): string {
  if (h === undefined) return '';
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1).toLowerCase();
  const colon = h.indexOf(':');
  return (colon === -1 ? h : h.slice(0, colon)).toLowerCase();
}

/** The router's view of one route (as SnapshotBuilder.build places it). */
function routerEntry(id: string, route: Route, service: Service | undefined): RouterEntry<string> {
  const hosts = route.hosts ?? (route.host !== undefined ? [route.host] : service?.hosts);
  return {
    id,
    route: id,
    uris: route.uris ?? (route.uri !== undefined ? [route.uri] : []),
    hosts: hosts?.map((h) => h.toLowerCase()),
    methods: route.methods,
    remoteAddrs: route.remote_addrs ?? (route.remote_addr !== undefined ? [route.remote_addr] : undefined),
    vars: route.vars as unknown[] | undefined,
    priority: route.priority ?? 0,
  };
}

/** Builds a router, leaving out entries that cannot be compiled (as the snapshot builder does). */
function routerOf(entries: RouterEntry<string>[], mode: RouterMode | undefined): Router<string> {
  for (let i = 0; i <= entries.length; i++) {
    try {
      return buildRouter(entries, { mode });
    } catch (err) {
      if (!(err instanceof RouterBuildError)) throw err;
      const at = entries.findIndex((e) => e.id === err.routeId);
      if (at === -1) throw err;
      entries.splice(at, 1);
    }
  }
  return buildRouter([], { mode });
}

/**
 * A chain as the inspector shows it: disabled instances are kept (with `_meta.disable`
 * lifted for the compile) so they appear where they would run, and are flagged.
 * compileChain does all the rest: validation, `_meta`, ordering, per-phase lists.
 */
function displayChain(sources: readonly InstanceSource[], registry: PluginRegistry, envFor: (p: Plugin) => PrepareEnv,
  problems: string[]): { chain: Chain; disabled: Set<string> } {
  if (sources.length === 0) return { chain: EMPTY_CHAIN, disabled: new Set() };
  const disabled = new Set<string>();
  const lifted = sources.map((s) => {
    const meta = s.conf._meta as Record<string, unknown> | undefined;
    if (meta?.disable !== true) return s;
    disabled.add(s.name);
    return { ...s, conf: { ...s.conf, _meta: { ...meta, disable: false } } };
  });
  const chain = compileChain(lifted, registry, new PrepareCache(), envFor,
    (name, origin, reason) => problems.push(`plugin [${name}] from ${origin}: ${reason}`));
  return { chain, disabled };
}

function entryOf(inst: Instance, chain: ChainName, disabled: Set<string>): ChainEntry {
  const filter = (inst.conf._meta as { filter?: unknown } | undefined)?.filter;
  return {
    name: inst.name,
    chain,
    origin: inst.origin,
    origin_id: inst.originId ?? null,
    stage: inst.stage,
    priority: inst.priority,
    declared_stage: inst.plugin.stage,
    declared_priority: inst.plugin.priority,
    type: inst.plugin.type ?? null,
    disabled: disabled.has(inst.name),
    filter: Array.isArray(filter) && filter.length > 0 ? filter : null,
  };
}

/** A consumer's auth plugins are its credentials, not plugins to merge (as PluginSnapshot.withConsumer). */
function withoutAuth(plugins: PluginsMap | undefined, registry: PluginRegistry): PluginsMap | undefined {
  return plugins === undefined ? undefined
    : Object.fromEntries(Object.entries(plugins).filter(([name]) => registry.get(name)?.plugin.type !== 'auth'));
}

/**
 * The report for one route of `view`. Throws a 404 AdminError when the route does not
 * exist. `request` adds route matching and filter evaluation.
 */
export function inspectPluginChain(view: ConfigView, registry: PluginRegistry, routeId: string, request?: InspectRequest,
  routerMode?: RouterMode): PluginChainReport {
  const obj = view.get('routes', routeId);
  if (obj === undefined) throw new AdminError(404, 'Key not found');
  const route = obj.value as Route;
  const snapshot = new PluginSnapshot(view, registry, new PrepareCache());
  const serviceOf = (r: Route): (Service & { id: string }) | undefined => {
    if (r.service_id === undefined) return undefined;
    const s = view.get('services', String(r.service_id));
    return s === undefined ? undefined : { ...(s.value as Service), id: s.id };
  };
  const service = serviceOf(route);
  const routePlugins = (id: string, r: Route, s: (Service & { id: string }) | undefined) =>
    snapshot.forRoute({ id, plugins: r.plugins as PluginsMap | undefined, plugin_config_id: r.plugin_config_id },
      s !== undefined ? { id: s.id, plugins: s.plugins as PluginsMap | undefined } : undefined);
  const rp = routePlugins(routeId, route, service);

  const problems = [...rp.problems];
  if (route.status === 0) problems.unshift('the route is disabled (status 0)');
  const warnings: string[] = [];
  if (route.service_id !== undefined && service === undefined) warnings.push(`service ${route.service_id} not found`);
  if (route.plugin_config_id !== undefined && view.get('plugin_configs', String(route.plugin_config_id)) === undefined) {
    warnings.push(`plugin_config ${route.plugin_config_id} not found`);
  }

  const envs = new Map<string, PrepareEnv>();
  const envFor = (plugin: Plugin): PrepareEnv => {
    let env = envs.get(plugin.name);
    if (env === undefined) {
      const md = view.get('plugin_metadata', plugin.name)?.value as Record<string, unknown> | undefined;
      env = { metadata: md, consumers: plugin.type === 'auth' ? snapshot.consumers : [] };
      envs.set(plugin.name, env);
    }
    return env;
  };

  const conflicts: { name: string; global_rules: string[] }[] = [];
  const rules = [...view.list('global_rules')].map((r) => ({ id: r.id, plugins: (r.value as { plugins?: PluginsMap }).plugins }));
  const globalProblems: string[] = [];
  const g = displayChain(mergeGlobalRules(rules, (name, ids) => conflicts.push({ name, global_rules: ids })), registry, envFor, globalProblems);
  const r0 = displayChain(rp.sources, registry, envFor, []);

  // ---- the request, when given
  let sim: SimulatedRequest | undefined;
  let run: PluginRun | undefined;
  let matches = false;
  let matchedRouteId: string | null = null;
  let consumerFound: boolean | null = null;
  let merged: { chain: Chain; disabled: Set<string> } | undefined;
  if (request !== undefined) {
    sim = simulate(request, snapshot.matchTime);
    const input = { method: sim.method, host: sim.host, path: sim.path, remoteAddr: sim.remoteAddr, vars: sim.vars.lookup };
    const own = routerOf([routerEntry(routeId, route, service)], routerMode).match(input);
    matches = own !== undefined;
    const served: RouterEntry<string>[] = [];
    for (const o of view.list('routes')) {
      const r = o.value as Route;
      if (r.status === 0) continue;
      const s = serviceOf(r);
      const p = o.id === routeId ? rp : routePlugins(o.id, r, s);
      if (p.problems.length > 0) continue;
      served.push(routerEntry(o.id, r, s));
    }
    matchedRouteId = routerOf(served, routerMode).match(input)?.route ?? null;
    // Variables as if this route served the request.
    const facts = sim.vars.facts;
    facts.routeId = routeId;
    facts.routeName = route.name;
    facts.serviceId = service?.id;
    facts.serviceName = service?.name;
    facts.uriParams = own?.params;
    // Only the filters of PluginRun are used: a sample request has its variables and
    // nothing else (no body, no upstream yet, so response variables read nil).
    run = new PluginRun(sampleExchange(sim.vars, sim.req), EMPTY_CHAIN, EMPTY_CHAIN, logger().child({ module: 'plugin-chain' }));
    if (sim.consumer !== undefined) {
      const c = view.get('consumers', sim.consumer)
        ?? [...view.list('consumers')].find((x) => (x.value as { username?: string }).username === sim!.consumer);
      consumerFound = c !== undefined;
      if (c !== undefined) {
        const cv = c.value as { username?: string; group_id?: string; plugins?: PluginsMap };
        let group: { id: string; plugins?: PluginsMap } | undefined;
        if (cv.group_id !== undefined) {
          const gObj = view.get('consumer_groups', String(cv.group_id));
          if (gObj !== undefined) group = { id: gObj.id, plugins: withoutAuth((gObj.value as { plugins?: PluginsMap }).plugins, registry) };
        }
        merged = displayChain(mergeConsumerPlugins(rp.sources, group,
          { username: cv.username ?? c.id, plugins: withoutAuth(cv.plugins, registry) }), registry, envFor, []);
      }
    }
  }

  // ---- the runner's steps (runner.ts runRequestSide, runHeaderFilter, runBodyFilter, runLog)
  const phases: PhaseStep[] = [];
  let route_ = r0;
  let attached = false;
  let pending = false;
  let beforeMerge = route_;
  const routeHas = (name: string): boolean => route_.chain.all.some((i) => i.name === name && !route_.disabled.has(name));
  /** Adds one step; returns whether an auth plugin ran in it. */
  const step = (phase: PhaseStep['phase'], chain: ChainName, list: readonly Instance[],
    opts: { consumerAdded?: boolean; skip?: (i: Instance) => boolean } = {}): boolean => {
    const d = chain === 'global' ? g : route_;
    let authRan = false;
    const plugins: ChainEntry[] = [];
    for (const inst of list) {
      if (opts.skip?.(inst) === true) continue;
      const e = entryOf(inst, chain, d.disabled);
      if (e.disabled) e.skipped = 'disabled';
      else if (chain === 'global' && inst.plugin.runPolicy === 'prefer_route' && routeHas(inst.name)) e.skipped = 'prefer_route';
      else if (run !== undefined) {
        // Evaluated at each phase, in step order, as PluginRun does for a real request.
        e.filter_result = run.passesFilter(inst, PHASE_INDEX[phase]);
        if (!e.filter_result) e.skipped = 'filter';
      }
      if (e.skipped === undefined && inst.plugin.type === 'auth') authRan = true;
      plugins.push(e);
    }
    if (plugins.length > 0) phases.push({ phase, chain, ...(opts.consumerAdded === true ? { consumer_added: true as const } : {}), plugins });
    return authRan;
  };
  const attach = (): void => {
    pending = false;
    if (merged === undefined || attached) return;
    attached = true;
    route_ = merged;
    sim!.vars.facts.consumerName = request?.consumer;
  };
  const consumerKnown = merged !== undefined;
  // The runner's own plan (plugin-runtime/plan.ts), with the auth plugins' effect simulated.
  for (const s of REQUEST_STEPS) {
    if (s.whenConsumerPending && !pending) continue;
    if (s.mergeFirst && pending) {
      beforeMerge = route_;
      attach();
    }
    const d = s.chain === 'global' ? g : route_;
    const before = beforeMerge;
    const authRan = step(s.phase, s.chain, d.chain[s.phase], s.skip === ONLY_CONSUMER_ADDED
      ? { consumerAdded: true, skip: (i) => !addedByConsumer(i, before.chain.all) } : {});
    if (authRan && consumerKnown && !attached) pending = true;
  }
  for (const phase of ['header_filter', 'body_filter', 'log'] as const) {
    for (const { chain } of RESPONSE_CHAINS) step(phase, chain, (chain === 'global' ? g : route_).chain[phase]);
  }

  const all = [
    ...g.chain.all.map((i) => entryOf(i, 'global', g.disabled)),
    ...route_.chain.all.map((i) => entryOf(i, 'route', route_.disabled)),
  ];
  return {
    route_id: routeId,
    route_name: route.name ?? null,
    service_id: route.service_id !== undefined ? String(route.service_id) : null,
    plugin_config_id: route.plugin_config_id !== undefined ? String(route.plugin_config_id) : null,
    served: problems.length === 0,
    problems,
    warnings,
    global_rule_conflicts: conflicts,
    global_problems: globalProblems,
    plugins: all,
    phases,
    ...(sim !== undefined ? {
      request: {
        method: sim.method, host: sim.host, uri: sim.path, matches, matched_route_id: matchedRouteId,
        consumer: request?.consumer ?? null, consumer_found: consumerFound, consumer_attached: attached,
      },
    } : {}),
  };
}

/** The exchange of a sample request: its request and variables, no body, no upstream. */
function sampleExchange(vars: RequestVars, req: HttpRequest): ExchangeView {
  return {
    req, vars, route: undefined, startedAt: 0, requestHeaderEdits: undefined,
    upstreamUri: req.url, upstreamHost: undefined, upstreamMethod: undefined, bufferedBody: undefined,
    readBody: () => Promise.resolve(Buffer.alloc(0)),
    replaceBody: () => undefined, addRequestBodyFilter: () => undefined,
    isFinishedVar: () => false,
    finishedVar: () => undefined,
  };
}

/** A private copy of the store's current objects (compiling fills schema defaults into configs). */
async function viewOf(store: ConfigStore): Promise<ConfigView> {
  const objects: StoredObject[] = [];
  for (const kind of RESOURCE_KINDS) objects.push(...(await store.list(kind)));
  const revision = objects.reduce((m, o) => Math.max(m, o.modifiedIndex), 0);
  return ConfigState.fromStoreState(structuredClone({ revision, objects }));
}

/**
 * `GET /routes/{id}/plugin-chain[?request=<JSON>]`, against the store's current objects
 * (so it reflects a write the moment it is acknowledged) and the primary's plugins.
 */
export function pluginChainRoute(deps: { registry: () => PluginRegistry; store: ConfigStore; routerMode?: RouterMode }): AdminRouteHandler {
  return async (req) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new AdminError(405, `not supported \`${req.method}\` method for plugin-chain`);
    const [id] = req.segments;
    if (id === undefined) throw new AdminError(400, 'missing route id');
    const raw = req.query.get('request');
    const request = raw === null ? undefined : parseInspectRequest(raw);
    return { status: 200, body: inspectPluginChain(await viewOf(deps.store), deps.registry(), id, request, deps.routerMode) };
  };
}
